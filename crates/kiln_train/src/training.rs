//! The training loop: mini-batch gradient descent with Adam or SGD and a learning-rate schedule, per-step
//! and per-epoch metrics reported through a callback, early stopping on validation loss, the best model
//! kept, and an optional checkpoint folder written after every epoch from which a stopped run resumes.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{
    AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig,
};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::{FeatureSpec, Rows, epoch_rng};
use crate::metrics::Evaluation;
use crate::model::{DropoutRng, ModelKind, Net, NetConfig};
use crate::{TrainDevice, TrainError};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    #[default]
    Adam,
    Sgd,
}

/// How the learning rate changes over the epochs. It is a function of the epoch alone, so a resumed
/// run continues on the same curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    #[default]
    Constant,
    /// Cosine decay from the learning rate to zero over `epochs`.
    Cosine,
    /// Multiplied by `gamma` every `step_size` epochs.
    Step,
}

/// Hyperparameters of a run (all recorded with it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainParams {
    pub model: ModelKind,
    /// Hidden layer widths (MLP); the CNN's fully connected layer takes the first.
    pub hidden: Vec<usize>,
    /// Convolution filters per block (CNN).
    pub filters: Vec<usize>,
    pub dropout: f64,
    pub optimizer: Optimizer,
    pub learning_rate: f64,
    pub schedule: Schedule,
    /// Epochs between learning-rate drops (`step` schedule).
    pub step_size: usize,
    /// Factor of each drop (`step` schedule).
    pub gamma: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Stop after this many epochs without a better validation loss (0 = never).
    pub patience: usize,
    pub seed: u64,
    /// Share of the training rows used, in (0, 1]: a nested stratified subset drawn with `seed`, for
    /// learning curves (validation and test rows are never reduced).
    pub fraction: f64,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            model: ModelKind::Mlp,
            hidden: vec![128],
            filters: vec![32, 64],
            dropout: 0.0,
            optimizer: Optimizer::Adam,
            learning_rate: 1e-3,
            schedule: Schedule::Constant,
            step_size: 30,
            gamma: 0.1,
            weight_decay: 1e-4,
            batch_size: 32,
            epochs: 100,
            patience: 20,
            seed: 0,
            fraction: 1.0,
        }
    }
}

/// The names [`TrainParams::set`] accepts.
pub const PARAM_NAMES: [&str; 16] = [
    "model",
    "hidden",
    "filters",
    "dropout",
    "optimizer",
    "lr",
    "schedule",
    "step_size",
    "gamma",
    "weight_decay",
    "batch_size",
    "epochs",
    "patience",
    "seed",
    "layers",
    "fraction",
];

impl TrainParams {
    /// The defaults of a template: the MLP's are [`TrainParams::default`]; the CNN learns faster and
    /// overfits sooner, so it starts with learning rate 0.003, dropout 0.3 and 30 epochs (on digits:
    /// test accuracy 0.978–0.994 over three 80/20 splits and three seeds, BENCHMARKS.md).
    pub fn for_model(model: ModelKind) -> Self {
        match model {
            ModelKind::Mlp => Self::default(),
            ModelKind::Cnn => Self {
                model,
                learning_rate: 3e-3,
                dropout: 0.3,
                epochs: 30,
                ..Self::default()
            },
        }
    }

    /// Set one parameter from `KEY=VALUE` text (the CLI's `--param`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), TrainError> {
        let bad = || TrainError::Invalid(format!("invalid value `{value}` for `{key}`"));
        let widths = |v: &str| -> Result<Vec<usize>, TrainError> {
            let w: Vec<usize> = v
                .split([',', 'x', ' '])
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<usize>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            if w.contains(&0) {
                return Err(bad());
            }
            Ok(w)
        };
        match key {
            "model" => self.model = ModelKind::parse(value).ok_or_else(bad)?,
            "hidden" | "layers" => self.hidden = widths(value)?,
            "filters" => self.filters = widths(value)?,
            "dropout" => self.dropout = value.parse().map_err(|_| bad())?,
            "optimizer" => {
                self.optimizer = match value {
                    "adam" => Optimizer::Adam,
                    "sgd" => Optimizer::Sgd,
                    _ => return Err(bad()),
                }
            }
            "lr" | "learning_rate" => self.learning_rate = value.parse().map_err(|_| bad())?,
            "schedule" => {
                self.schedule = match value {
                    "constant" => Schedule::Constant,
                    "cosine" => Schedule::Cosine,
                    "step" => Schedule::Step,
                    _ => return Err(bad()),
                }
            }
            "step_size" => self.step_size = value.parse().map_err(|_| bad())?,
            "gamma" => self.gamma = value.parse().map_err(|_| bad())?,
            "weight_decay" => self.weight_decay = value.parse().map_err(|_| bad())?,
            "batch_size" => self.batch_size = value.parse().map_err(|_| bad())?,
            "epochs" => self.epochs = value.parse().map_err(|_| bad())?,
            "patience" => self.patience = value.parse().map_err(|_| bad())?,
            "seed" => self.seed = value.parse().map_err(|_| bad())?,
            "fraction" => {
                let f: f64 = value.parse().map_err(|_| bad())?;
                if !(f > 0.0 && f <= 1.0) {
                    return Err(bad());
                }
                self.fraction = f;
            }
            _ => {
                return Err(TrainError::Invalid(format!(
                    "unknown parameter `{key}` (one of {})",
                    PARAM_NAMES[..14].join(", ")
                )));
            }
        }
        self.check().map_err(|_| bad())
    }

    /// Check that every parameter is in range; the error names the first one that is not.
    pub fn check(&self) -> Result<(), TrainError> {
        let wrong = if !(0.0..1.0).contains(&self.dropout) {
            "dropout (0 to below 1)"
        } else if self.batch_size == 0 {
            "batch_size (at least 1)"
        } else if self.epochs == 0 {
            "epochs (at least 1)"
        } else if self.learning_rate <= 0.0 || !self.learning_rate.is_finite() {
            "lr (above 0)"
        } else if self.step_size == 0 {
            "step_size (at least 1)"
        } else if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            "gamma (above 0, at most 1)"
        } else if self.filters.is_empty() || self.filters.contains(&0) {
            "filters (widths of at least 1)"
        } else if self.hidden.contains(&0) {
            "hidden (widths of at least 1)"
        } else {
            return Ok(());
        };
        Err(TrainError::Invalid(format!("invalid parameter {wrong}")))
    }

    /// The learning rate of `epoch` (1-based).
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        let e = epoch.saturating_sub(1) as f64;
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Cosine => {
                let t = e / self.epochs.max(1) as f64;
                self.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Step => {
                self.learning_rate * self.gamma.powi((e as usize / self.step_size.max(1)) as i32)
            }
        }
    }

    /// The model configuration for inputs encoded by `spec`.
    pub fn net_config(&self, spec: &FeatureSpec) -> Result<NetConfig, TrainError> {
        let output = spec.classes.len();
        Ok(match self.model {
            ModelKind::Mlp => NetConfig::Mlp {
                input: spec.width(),
                hidden: self.hidden.clone(),
                output,
                dropout: self.dropout,
            },
            ModelKind::Cnn => {
                let Some([channels, height, width]) = spec.image else {
                    return Err(TrainError::Invalid(
                        "the CNN needs image features: one image column, or pixel columns (whole numbers ≥ 0) whose count is a square such as 64 for 8×8".into(),
                    ));
                };
                NetConfig::Cnn {
                    channels,
                    height,
                    width,
                    filters: self.filters.clone(),
                    hidden: self.hidden.first().copied().unwrap_or(128),
                    output,
                    dropout: self.dropout,
                }
            }
        })
    }
}

/// The encoded parts of a split.
#[derive(Clone, Copy)]
pub struct Splits<'a> {
    pub train: &'a dyn Rows,
    pub val: &'a dyn Rows,
    pub test: &'a dyn Rows,
}

/// Mixed into the seed of the dropout generator, so its draws differ from the batch order's.
const DROPOUT_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Serialises use of the backend's process-wide random generator.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What the loop reports while it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Sent once before the first batch: how much work there is and where it starts (a resumed run
    /// starts after its last checkpoint).
    Start {
        /// The device's name (adapter, or the CPU and why).
        device: String,
        epochs: usize,
        steps_per_epoch: usize,
        first_epoch: usize,
        /// False when the split has no validation rows: the "validation" figures are then measured on
        /// the training rows.
        validation: bool,
    },
    Step {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    Epoch {
        epoch: usize,
        train_loss: f64,
        train_accuracy: f64,
        val_loss: f64,
        val_accuracy: f64,
        learning_rate: f64,
    },
}

pub struct TrainOutcome {
    /// The model of the best validation epoch.
    pub model: Net,
    pub config: NetConfig,
    pub best_epoch: usize,
    pub epochs_run: usize,
    /// True when stopped by the cancel flag (the best model so far is kept).
    pub stopped: bool,
    pub test: Evaluation,
    /// What the run cost (this session of it, for a resumed run).
    pub cost: TrainCost,
}

/// What training cost: time, throughput, model size and inference speed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainCost {
    /// Seconds in the epoch loop (batches and validation).
    pub train_seconds: f64,
    /// Training samples passed forward and backward.
    pub samples: usize,
    /// Trainable parameters of the model.
    pub parameters: usize,
    /// Seconds to evaluate the test split (forward passes and metrics).
    pub test_seconds: f64,
    pub test_rows: usize,
}

/// Where the loop keeps its checkpoint, and whether to start from it.
#[derive(Clone, Copy, Debug)]
pub struct Checkpoints<'a> {
    pub dir: &'a std::path::Path,
    pub resume: bool,
}

/// The loop's position, written after every epoch next to the weights and the optimizer state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    pub epoch: usize,
    pub step: usize,
    pub best_loss: f64,
    pub best_epoch: usize,
    pub since_best: usize,
}

const LAST: &str = "last.bpk";
const BEST: &str = "best.bpk";
const OPTIM: &str = "optim.bpk";
const STATE: &str = "state.json";

fn record_error(e: impl std::fmt::Display) -> TrainError {
    TrainError::Record(e.to_string())
}

/// Write `file` in `dir` through a temporary name, so a crash never leaves half a file under it.
fn replace(
    dir: &std::path::Path,
    file: &str,
    write: impl FnOnce(&std::path::Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let tmp = dir.join(format!(".{file}.tmp"));
    write(&tmp)?;
    std::fs::rename(&tmp, dir.join(file)).map_err(record_error)
}

/// The checkpoint left in `dir`, if any.
pub fn checkpoint_state(dir: &std::path::Path) -> Option<LoopState> {
    let text = std::fs::read_to_string(dir.join(STATE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The longest a run goes without writing its checkpoint.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Write a checkpoint: the last epoch's model and optimizer state, the best model (`best`, when it
/// changed since the previous write), and the loop state last (what `resume` reads first).
fn write_checkpoint(
    dir: &std::path::Path,
    (last, optim, state): (Net, ModuleOptimizer, LoopState),
    best: Option<&Net>,
) -> Result<(), TrainError> {
    if let Some(b) = best {
        replace(dir, BEST, |p| save(b.clone(), p))?;
    }
    replace(dir, LAST, |p| save(last, p))?;
    replace(dir, OPTIM, |p| optim.save(p).map_err(record_error))?;
    replace(dir, STATE, |p| {
        std::fs::write(p, serde_json::to_vec(&state).unwrap_or_default()).map_err(record_error)
    })
}

fn tensors(x: Vec<f32>, y: Vec<i64>, width: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let n = y.len();
    let xs = Tensor::<2>::from_data(TensorData::new(x, [n, width]), device);
    let ys = Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device);
    (xs, ys)
}

/// Loss and predictions of `model` on `data`, in batches, without gradients.
pub fn evaluate(
    model: &Net,
    data: &dyn Rows,
    classes: &[String],
    device: &Device,
) -> Result<Evaluation, TrainError> {
    if data.rows() == 0 {
        return Ok(Evaluation::default());
    }
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut predicted = Vec::with_capacity(data.rows());
    let mut truth = Vec::with_capacity(data.rows());
    let mut loss_sum = 0.0;
    let width = data.width();
    data.batches(512, None, &mut |x, y| {
        let (xs, ys) = tensors(x.to_vec(), y.to_vec(), width, device);
        let logits = model.forward(xs);
        let loss: f64 = loss_fn.forward(logits.clone(), ys).into_scalar::<f64>();
        loss_sum += loss * y.len() as f64;
        predicted.extend(logits.argmax(1).into_data().iter::<i64>());
        truth.extend_from_slice(y);
        true
    })?;
    Ok(Evaluation::from_predictions(
        classes,
        &truth,
        &predicted,
        loss_sum / truth.len().max(1) as f64,
    ))
}

/// A freshly initialised model on the run's device. The weights are drawn on the CPU backend from the
/// seed — so the same seed starts from the same weights on every device — and materialised here (burn
/// initialises parameters lazily). The backend's generator is shared by the process, so seeding and
/// drawing hold a lock: concurrent runs cannot interleave draws. Nothing else in a run draws from it
/// (batch order and dropout masks come from the run's own generators), so it trains without the lock.
fn init_model(config: &NetConfig, params: &TrainParams, device: &TrainDevice) -> Net {
    let ad = device.device.clone().autodiff();
    let cpu = Device::flex();
    let _rng_lock = RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cpu.seed(params.seed);
    let record = config.init(&cpu).into_record();
    config.init(&ad).load_record(record)
}

/// Train a model. `on_event` gets the start, every step and every epoch; `cancel` stops at the next
/// batch, keeping the best model so far. With `checkpoints`, the model, the optimizer state and the
/// loop's position are saved at epoch ends (at most every [`CHECKPOINT_EVERY`], and when stopped), and
/// `resume` continues from them.
pub fn train(
    spec: &FeatureSpec,
    data: &Splits<'_>,
    params: &TrainParams,
    device: &TrainDevice,
    cancel: &AtomicBool,
    checkpoints: Option<Checkpoints<'_>>,
    on_event: &mut dyn FnMut(Event),
) -> Result<TrainOutcome, TrainError> {
    let Splits { train, val, test } = *data;
    if train.rows() == 0 {
        return Err(TrainError::Invalid("the training split is empty".into()));
    }
    let config = params.net_config(spec)?;
    let plain = device.device.clone();
    let ad = plain.clone().autodiff();
    let mut model = init_model(&config, params, device);
    let decay =
        (params.weight_decay > 0.0).then(|| WeightDecayConfig::new(params.weight_decay as f32));
    let mut optim = match params.optimizer {
        Optimizer::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        Optimizer::Sgd => SgdConfig::new().with_weight_decay(decay).init(),
    };
    let mut best: Option<(f64, usize, Net)> = None;
    let mut since_best = 0;
    let mut first_epoch = 1;
    let mut step = 0;
    if let Some(Checkpoints { dir, resume: true }) = checkpoints {
        let state = checkpoint_state(dir).ok_or_else(|| {
            TrainError::Invalid(format!("no checkpoint to resume from in {}", dir.display()))
        })?;
        model = model.try_load_file(dir.join(LAST)).map_err(record_error)?;
        optim = optim.load(dir.join(OPTIM)).map_err(record_error)?;
        let best_model = config
            .init(&plain)
            .try_load_file(dir.join(BEST))
            .map_err(record_error)?;
        best = Some((state.best_loss, state.best_epoch, best_model));
        since_best = state.since_best;
        first_epoch = state.epoch + 1;
        step = state.step;
    } else if let Some(c) = checkpoints {
        std::fs::create_dir_all(c.dir).map_err(record_error)?;
    }
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let mut epochs_run = first_epoch - 1;
    let mut stopped = false;
    // A run resumed after its early stop has no epochs left.
    let last_epoch = if params.patience > 0 && since_best >= params.patience {
        first_epoch - 1
    } else {
        params.epochs
    };
    let mut pending: Option<(Net, ModuleOptimizer, LoopState)> = None;
    // The best model changed since the last write.
    let mut best_dirty = false;
    let mut last_write = std::time::Instant::now();
    let started = std::time::Instant::now();
    let mut samples = 0usize;
    let (train_rows, width) = (train.rows(), train.width());
    on_event(Event::Start {
        device: device.name.clone(),
        epochs: params.epochs,
        steps_per_epoch: train_rows.div_ceil(params.batch_size),
        first_epoch,
        validation: val.rows() > 0,
    });
    'epochs: for epoch in first_epoch..=last_epoch {
        // Dropout masks: their own stream per epoch, so a resumed run draws as an uninterrupted one.
        let mut drop_rng = epoch_rng(params.seed ^ DROPOUT_SEED, epoch as u64);
        let lr = params.learning_rate_at(epoch);
        let mut loss_sum = 0.0;
        let mut correct = 0usize;
        let mut seen = 0usize;
        let mut trained = model;
        let mut held = None;
        train.batches(
            params.batch_size,
            Some((params.seed, epoch as u64)),
            &mut |x, y| {
                if cancel.load(Ordering::Relaxed) {
                    stopped = true;
                    return false;
                }
                let m = held.take().unwrap_or_else(|| trained.clone());
                let (xs, ys) = tensors(x.to_vec(), y.to_vec(), width, &ad);
                let logits = m.forward_train(xs, &mut Some(DropoutRng { rng: &mut drop_rng }));
                let loss = loss_fn.forward(logits.clone(), ys);
                let value: f64 = loss.clone().into_scalar::<f64>();
                let predicted: Vec<i64> = logits.argmax(1).into_data().iter::<i64>().collect();
                correct += predicted.iter().zip(y).filter(|(p, t)| p == t).count();
                loss_sum += value * y.len() as f64;
                seen += y.len();
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                held = Some(optim.step(lr, m, grads));
                step += 1;
                samples += y.len();
                on_event(Event::Step {
                    epoch,
                    step,
                    loss: value,
                });
                true
            },
        )?;
        if let Some(m) = held.take() {
            trained = m;
        }
        model = trained;
        if stopped {
            break 'epochs;
        }
        let seen = seen.max(1);
        epochs_run = epoch;
        let valid = model.valid();
        let v = if val.rows() > 0 {
            evaluate(&valid, val, &spec.classes, &plain)?
        } else {
            evaluate(&valid, train, &spec.classes, &plain)?
        };
        on_event(Event::Epoch {
            epoch,
            train_loss: loss_sum / seen as f64,
            train_accuracy: correct as f64 / seen as f64,
            val_loss: v.loss,
            val_accuracy: v.accuracy,
            learning_rate: lr,
        });
        let improved = best.as_ref().is_none_or(|(l, _, _)| v.loss < *l);
        if improved {
            best = Some((v.loss, epoch, valid.clone()));
            since_best = 0;
        } else {
            since_best += 1;
        }
        if checkpoints.is_some() {
            let state = LoopState {
                epoch,
                step,
                best_loss: best.as_ref().map_or(f64::INFINITY, |b| b.0),
                best_epoch: best.as_ref().map_or(0, |b| b.1),
                since_best,
            };
            best_dirty |= improved;
            pending = Some((valid, optim.clone(), state));
            // Written at most every CHECKPOINT_EVERY (and when the loop stops early): a crash loses
            // at most that much work, and a fast run does not spend its time writing files.
            if last_write.elapsed() >= CHECKPOINT_EVERY
                && let (Some(c), Some(p)) = (checkpoints, pending.take())
            {
                write_checkpoint(c.dir, p, best.as_ref().map(|b| &b.2).filter(|_| best_dirty))?;
                best_dirty = false;
                last_write = std::time::Instant::now();
            }
        }
        if !improved && params.patience > 0 && since_best >= params.patience {
            break;
        }
    }
    // A stopped run keeps its last completed epoch for Resume.
    if stopped && let (Some(c), Some(p)) = (checkpoints, pending.take()) {
        write_checkpoint(c.dir, p, best.as_ref().map(|b| &b.2).filter(|_| best_dirty))?;
    }
    let (best_model, best_epoch) = match best {
        Some((_, e, m)) => (m, e),
        None if stopped => return Err(TrainError::Cancelled),
        None => return Err(TrainError::Invalid("no epoch completed".into())),
    };
    let train_seconds = started.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let test_eval = evaluate(&best_model, test, &spec.classes, &plain)?;
    let cost = TrainCost {
        train_seconds,
        samples,
        parameters: best_model.num_params(),
        test_seconds: t.elapsed().as_secs_f64(),
        test_rows: test.rows(),
    };
    let test = test_eval;
    Ok(TrainOutcome {
        cost,
        model: best_model,
        config,
        best_epoch,
        epochs_run,
        stopped,
        test,
    })
}

/// Save a model's weights (burn's record format) to `path`.
pub fn save(model: Net, path: &std::path::Path) -> Result<(), TrainError> {
    model.save_file(path).map_err(record_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_and_parameter_text() {
        let mut p = TrainParams::default();
        p.set("lr", "0.1").unwrap();
        p.set("epochs", "10").unwrap();
        assert!((p.learning_rate_at(1) - 0.1).abs() < 1e-12);
        assert!((p.learning_rate_at(10) - 0.1).abs() < 1e-12);
        p.set("schedule", "cosine").unwrap();
        assert!((p.learning_rate_at(1) - 0.1).abs() < 1e-12);
        assert!((p.learning_rate_at(6) - 0.05).abs() < 1e-12);
        assert!(p.learning_rate_at(10) < 0.003);
        p.set("schedule", "step").unwrap();
        p.set("step_size", "3").unwrap();
        p.set("gamma", "0.5").unwrap();
        let lr: Vec<f64> = (1..=7).map(|e| p.learning_rate_at(e)).collect();
        assert_eq!(lr, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
        p.set("hidden", "256x128").unwrap();
        assert_eq!(p.hidden, [256, 128]);
        p.set("model", "cnn").unwrap();
        assert_eq!(p.model, ModelKind::Cnn);
        for (k, v) in [
            ("hidden", "0"),
            ("gamma", "2"),
            ("schedule", "warm"),
            ("model", "rnn"),
            ("lr", "nan"),
        ] {
            assert!(p.clone().set(k, v).is_err(), "{k}={v} accepted");
        }
    }
}
