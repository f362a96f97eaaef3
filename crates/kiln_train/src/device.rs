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

/// Real (hardware) adapters wgpu can see, by name and kind.
fn hardware_adapters() -> Vec<(String, DeviceKind)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let mut discrete = 0;
    let mut integrated = 0;
    let mut out = Vec::new();
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
            _ => continue, // CPU/software and virtual adapters are not a GPU
        };
        out.push((format!("{} ({:?})", info.name, info.backend), kind));
    }
    out
}

/// Pick the device for `choice`. `Auto` never fails: without a hardware adapter it trains on the CPU
/// and says so. `Wgpu` fails clearly when there is no hardware adapter.
pub fn pick_device(choice: DeviceChoice) -> Result<TrainDevice, TrainError> {
    let cpu = |why: &str| TrainDevice {
        device: Device::flex(),
        backend: "cpu",
        name: format!("CPU (flex){why}"),
    };
    match choice {
        DeviceChoice::Cpu => Ok(cpu("")),
        DeviceChoice::Auto | DeviceChoice::Wgpu => {
            let gpus = hardware_adapters();
            match gpus.into_iter().next() {
                Some((name, kind)) => Ok(TrainDevice {
                    device: Device::wgpu(kind),
                    backend: "wgpu",
                    name,
                }),
                None if choice == DeviceChoice::Auto => Ok(cpu(" — no GPU adapter found")),
                None => Err(TrainError::NoGpu(
                    "no hardware GPU adapter found (software adapters are not used)".into(),
                )),
            }
        }
    }
}
