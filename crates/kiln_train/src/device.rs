//! Choosing where to train: a real GPU through wgpu when one exists, burn's CPU `flex` backend otherwise.
//! A software adapter (llvmpipe, lavapipe, WARP) counts as no GPU: it is slower than `flex`.

use burn::tensor::{Device, DeviceKind};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Wgpu,
}

impl DeviceChoice {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "cpu" | "flex" => Some(Self::Cpu),
            "wgpu" | "gpu" => Some(Self::Wgpu),
            _ => None,
        }
    }
}

/// The device a run uses, with a name to show and record.
#[derive(Clone, Debug)]
pub struct TrainDevice {
    pub device: Device,
    /// `cpu` or `wgpu`.
    pub backend: &'static str,
    /// Adapter name, or why the CPU was chosen.
    pub name: String,
}

/// An adapter's name and the device kind that selects it.
type Adapter = (String, DeviceKind);

/// Adapters wgpu can see, by name and kind: the hardware ones first, then software ones (a CPU
/// rasteriser such as lavapipe), which only a forced `wgpu` choice uses.
fn adapters() -> (Vec<Adapter>, Vec<Adapter>) {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let mut discrete = 0;
    let mut integrated = 0;
    let mut out = Vec::new();
    let mut software = Vec::new();
    for a in adapters {
        let info = a.get_info();
        let kind = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => {
                discrete += 1;
                DeviceKind::DiscreteGpu(discrete - 1)
            }
            wgpu::DeviceType::IntegratedGpu => {
                integrated += 1;
                DeviceKind::IntegratedGpu(integrated - 1)
            }
            wgpu::DeviceType::Cpu => {
                software.push((
                    format!("{} ({:?}, software)", info.name, info.backend),
                    DeviceKind::Cpu,
                ));
                continue;
            }
            _ => continue, // virtual adapters are not a GPU either
        };
        out.push((format!("{} ({:?})", info.name, info.backend), kind));
    }
    (out, software)
}

/// Pick the device for `choice`. `Auto` never fails: without a hardware adapter it trains on the CPU
/// and says so. `Wgpu` takes a hardware adapter, else a software one (the user asked for wgpu), and fails
/// clearly when there is no adapter at all.
pub fn pick_device(choice: DeviceChoice) -> Result<TrainDevice, TrainError> {
    let cpu = |why: &str| TrainDevice {
        device: Device::flex(),
        backend: "cpu",
        name: format!("CPU (flex){why}"),
    };
    match choice {
        DeviceChoice::Cpu => Ok(cpu("")),
        DeviceChoice::Auto | DeviceChoice::Wgpu => {
            let (gpus, software) = adapters();
            let first = gpus.into_iter().next().or_else(|| {
                if choice == DeviceChoice::Wgpu {
                    software.into_iter().next()
                } else {
                    None
                }
            });
            match first {
                Some((name, kind)) => Ok(TrainDevice {
                    device: Device::wgpu(kind),
                    backend: "wgpu",
                    name,
                }),
                None if choice == DeviceChoice::Auto => Ok(cpu(" — no GPU adapter found")),
                None => Err(TrainError::NoGpu("no wgpu adapter found".into())),
            }
        }
    }
}
