//! Model templates as burn modules: an MLP for tabular data (and flattened pixels) and a small CNN for
//! images. [`Net`] is the one type the training loop, checkpoints and inference work with.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which template a run trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Fully connected layers: tabular features, or pixels flattened.
    #[default]
    Mlp,
    /// Convolutions over an image (pixel columns or an image column).
    Cnn,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Mlp => "mlp",
            Self::Cnn => "cnn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mlp" => Some(Self::Mlp),
            "cnn" => Some(Self::Cnn),
            _ => None,
        }
    }
}

/// A multi-layer perceptron for tabular data (and flattened pixels).
#[derive(Config, Debug)]
pub struct MlpConfig {
    pub input: usize,
    pub hidden: Vec<usize>,
    pub output: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
}

#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    output: Linear,
    /// Dropout probability after each hidden layer (training only).
    dropout: f64,
    activation: Relu,
}

/// Inverted dropout with masks drawn from the run's own generator on the host, so a run's randomness
/// does not depend on the backend's process-wide generator (runs can train concurrently and still be
/// reproducible, and a CPU and a wgpu run of one seed drop the same units).
pub struct DropoutRng<'a> {
    pub rng: &'a mut rand_chacha::ChaCha8Rng,
}

impl DropoutRng<'_> {
    fn apply(&mut self, x: Tensor<2>, p: f64) -> Tensor<2> {
        if p <= 0.0 {
            return x;
        }
        let [rows, cols] = x.dims();
        let keep = 1.0 - p;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = (0..rows * cols)
            .map(|_| {
                if self.rng.random::<f64>() < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [rows, cols]), &x.device());
        x * mask
    }
}

/// Applies dropout during training (`Some`), nothing in evaluation (`None`).
fn drop(rng: &mut Option<DropoutRng<'_>>, x: Tensor<2>, p: f64) -> Tensor<2> {
    match rng {
        Some(r) => r.apply(x, p),
        None => x,
    }
}

impl MlpConfig {
    pub fn init(&self, device: &Device) -> Mlp {
        let mut hidden = Vec::with_capacity(self.hidden.len());
        let mut width = self.input;
        for &h in &self.hidden {
            hidden.push(LinearConfig::new(width, h).init(device));
            width = h;
        }
        Mlp {
            hidden,
            output: LinearConfig::new(width, self.output).init(device),
            dropout: self.dropout,
            activation: Relu::new(),
        }
    }
}

impl Mlp {
    /// Logits `[batch, classes]` for inputs `[batch, features]`; dropout only with `rng`.
    pub fn forward(&self, x: Tensor<2>, rng: &mut Option<DropoutRng<'_>>) -> Tensor<2> {
        let mut x = x;
        for layer in &self.hidden {
            x = drop(rng, self.activation.forward(layer.forward(x)), self.dropout);
        }
        self.output.forward(x)
    }
}

/// A small convolutional network: per entry of `filters` a 3×3 convolution (same padding), `ReLU` and a
/// 2×2 max-pool (while the image is at least 2 pixels on each side), then one hidden fully connected
/// layer with dropout and the output layer.
#[derive(Config, Debug)]
pub struct CnnConfig {
    /// Image channels, height and width; inputs are row-major `[channels, height, width]` per row.
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub filters: Vec<usize>,
    pub hidden: usize,
    pub output: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
}

#[derive(Module, Debug)]
pub struct Cnn {
    convs: Vec<Conv2d>,
    /// Whether the block of the same index pools.
    pools: Vec<bool>,
    pool: MaxPool2d,
    fc: Linear,
    output: Linear,
    /// Dropout probability after the dense layer (training only).
    dropout: f64,
    activation: Relu,
    channels: usize,
    height: usize,
    width: usize,
}

impl CnnConfig {
    pub fn init(&self, device: &Device) -> Cnn {
        let (mut c, mut h, mut w) = (self.channels, self.height, self.width);
        let mut convs = Vec::with_capacity(self.filters.len());
        let mut pools = Vec::with_capacity(self.filters.len());
        for &f in &self.filters {
            convs.push(
                Conv2dConfig::new([c, f], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
            );
            c = f;
            let pool = h >= 2 && w >= 2;
            if pool {
                h /= 2;
                w /= 2;
            }
            pools.push(pool);
        }
        Cnn {
            convs,
            pools,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc: LinearConfig::new(c * h * w, self.hidden).init(device),
            output: LinearConfig::new(self.hidden, self.output).init(device),
            dropout: self.dropout,
            activation: Relu::new(),
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
    }
}

impl Cnn {
    /// Logits `[batch, classes]` for flattened images `[batch, channels * height * width]`; dropout
    /// only with `rng`.
    pub fn forward(&self, x: Tensor<2>, rng: &mut Option<DropoutRng<'_>>) -> Tensor<2> {
        let batch = x.dims()[0];
        let mut x: Tensor<4> = x.reshape([batch, self.channels, self.height, self.width]);
        for (conv, &pool) in self.convs.iter().zip(&self.pools) {
            x = self.activation.forward(conv.forward(x));
            if pool {
                x = self.pool.forward(x);
            }
        }
        let x: Tensor<2> = x.flatten(1, 3);
        let x = drop(
            rng,
            self.activation.forward(self.fc.forward(x)),
            self.dropout,
        );
        self.output.forward(x)
    }
}

/// The configuration of either template (stored with the run's weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NetConfig {
    Mlp {
        input: usize,
        hidden: Vec<usize>,
        output: usize,
        dropout: f64,
    },
    Cnn {
        channels: usize,
        height: usize,
        width: usize,
        filters: Vec<usize>,
        hidden: usize,
        output: usize,
        dropout: f64,
    },
}

/// A model of either template.
#[allow(clippy::large_enum_variant)] // one per run, moved rarely; boxing would fight the derive
#[derive(Module, Debug)]
pub enum Net {
    Mlp(Mlp),
    Cnn(Cnn),
}

impl NetConfig {
    pub fn init(&self, device: &Device) -> Net {
        match self {
            Self::Mlp {
                input,
                hidden,
                output,
                dropout,
            } => Net::Mlp(
                MlpConfig::new(*input, hidden.clone(), *output)
                    .with_dropout(*dropout)
                    .init(device),
            ),
            Self::Cnn {
                channels,
                height,
                width,
                filters,
                hidden,
                output,
                dropout,
            } => Net::Cnn(
                CnnConfig::new(
                    *channels,
                    *height,
                    *width,
                    filters.clone(),
                    *hidden,
                    *output,
                )
                .with_dropout(*dropout)
                .init(device),
            ),
        }
    }

    pub fn kind(&self) -> ModelKind {
        match self {
            Self::Mlp { .. } => ModelKind::Mlp,
            Self::Cnn { .. } => ModelKind::Cnn,
        }
    }
}

impl Net {
    /// Logits `[batch, classes]` for inputs `[batch, features]` (evaluation: no dropout).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_train(x, &mut None)
    }

    /// Logits with dropout drawn from `rng` when it is `Some` (training).
    pub fn forward_train(&self, x: Tensor<2>, rng: &mut Option<DropoutRng<'_>>) -> Tensor<2> {
        match self {
            Self::Mlp(m) => m.forward(x, rng),
            Self::Cnn(m) => m.forward(x, rng),
        }
    }
}
