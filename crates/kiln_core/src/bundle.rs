//! A deployable model bundle: one folder a server machine serves without the workspace — the weights,
//! the model's description (features, classes, network), its model card, and a manifest of every file's
//! blake3. Opening a bundle checks the manifest first: a file changed, missing or added is refused by
//! name, never served.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::serving::ServedFeature;
use crate::{CoreError, LoadedModel, ObjectStore, Result, Workspace};

/// The manifest's name in a bundle.
pub const MANIFEST: &str = "manifest.json";
const MODEL: &str = "model.json";
const WEIGHTS: &str = "weights.bin";
const CARD: &str = "MODEL_CARD.md";
/// What a manifest says it is.
pub const FORMAT: &str = "kiln-bundle/1";

/// Where and with what a bundle was built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuiltWith {
    pub kiln: String,
    pub burn: String,
    pub polars: String,
    /// The device the model was trained on (as the run recorded it).
    pub trained_on: String,
    /// The machine the bundle was exported on.
    pub os: String,
    pub arch: String,
    pub host: String,
}

/// A bundle's `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleInfo {
    pub model: String,
    pub version: i64,
    pub run_id: i64,
    pub target: String,
    pub classes: Vec<String>,
    pub features: Vec<ServedFeature>,
    /// `name@version` of the training data, and its content hash.
    pub training_data: String,
    pub training_data_hash: String,
    pub exported_at: String,
    pub built_with: BuiltWith,
    /// The feature encoding and the network, as the run recorded them.
    pub feature_spec: serde_json::Value,
    pub model_config: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Manifest {
    format: String,
    /// File name to blake3 (hex), every file of the bundle but the manifest.
    files: BTreeMap<String, String>,
}

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::Invalid(message.into())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CoreError + '_ {
    move |e| CoreError::io(path, e)
}

impl Workspace {
    /// Write `model@alias_or_version` as a bundle into `out` (a new or empty folder). The bundle is
    /// written beside it first and moved into place whole: an interrupted export leaves no bundle.
    pub fn export_bundle(
        &self,
        model: &str,
        alias_or_version: &str,
        out: &Path,
    ) -> Result<BundleInfo> {
        if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
            return Err(invalid(format!(
                "{} is not empty: a bundle goes into a new or empty folder",
                out.display()
            )));
        }
        let (version, run_id) = self.resolve_model(model, alias_or_version)?;
        // Loading checks the weights against the run's record.
        let loaded = self.load_model(run_id)?;
        let run = self.store.run(run_id)?;
        let data = self.store.version_by_id(run.dataset_version_id)?;
        let weights = self.objects.absolute(
            run.artifacts["weights"]
                .as_str()
                .ok_or_else(|| invalid(format!("run {run_id} has no weights")))?,
        );
        let info = BundleInfo {
            model: model.to_owned(),
            version,
            run_id,
            target: loaded.target().to_owned(),
            classes: loaded.classes().to_vec(),
            features: loaded.features(),
            training_data: format!("{}@{}", data.dataset, data.version),
            training_data_hash: data.content_hash.clone(),
            exported_at: crate::serving::now(),
            built_with: BuiltWith {
                kiln: env!("CARGO_PKG_VERSION").to_owned(),
                burn: env!("KILN_BURN_VERSION").to_owned(),
                polars: env!("KILN_POLARS_VERSION").to_owned(),
                trained_on: run.device.clone(),
                os: std::env::consts::OS.to_owned(),
                arch: std::env::consts::ARCH.to_owned(),
                host: crate::host_name(),
            },
            feature_spec: run.artifacts["feature_spec"].clone(),
            model_config: crate::predict::model_config(&run),
        };
        let card = self.bundle_card(&info, &run);
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let staging = parent.join(format!(
            ".{}.kiln-bundle-{}",
            out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        let written = (|| {
            std::fs::copy(&weights, staging.join(WEIGHTS)).map_err(io(&weights))?;
            let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
            std::fs::write(staging.join(MODEL), json).map_err(io(&staging))?;
            std::fs::write(staging.join(CARD), card).map_err(io(&staging))?;
            let mut files = BTreeMap::new();
            for name in [WEIGHTS, MODEL, CARD] {
                files.insert(
                    name.to_owned(),
                    ObjectStore::hash_file(&staging.join(name))?,
                );
            }
            let manifest = Manifest {
                format: FORMAT.to_owned(),
                files,
            };
            std::fs::write(
                staging.join(MANIFEST),
                serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
            )
            .map_err(io(&staging))?;
            if out.exists() {
                std::fs::remove_dir(out).map_err(io(out))?;
            }
            std::fs::rename(&staging, out).map_err(io(out))
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        written?;
        Ok(info)
    }

    /// The model card of a bundle, in Markdown: what the model does, on what it was trained and
    /// evaluated, and the environment it was built in.
    fn bundle_card(&self, info: &BundleInfo, run: &kiln_store::Run) -> String {
        let brief = self.brief(&info.model).unwrap_or_default();
        let mut s = format!("# {} v{}\n\n", info.model, info.version);
        if !brief.problem.is_empty() {
            let _ = writeln!(s, "{}\n", brief.problem);
        }
        if !brief.owner.is_empty() {
            let _ = writeln!(s, "Owner: {}\n", brief.owner);
        }
        let _ = writeln!(
            s,
            "Predicts `{}` ({}) from {} features: {}.\n",
            info.target,
            info.classes.join(", "),
            info.features.len(),
            info.features
                .iter()
                .map(|f| format!("`{}`", f.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            s,
            "Trained in run {} on {} (content {}).\n",
            info.run_id, info.training_data, info.training_data_hash
        );
        if let Some(acc) = run.metrics["test_accuracy"].as_f64() {
            let _ = writeln!(s, "Test accuracy at training: {:.1} %.\n", 100.0 * acc);
        }
        if !brief.targets.is_empty() {
            let _ = writeln!(s, "## Targets\n");
            for t in &brief.targets {
                let _ = writeln!(s, "- {}", t.text());
            }
            s.push('\n');
        }
        let b = &info.built_with;
        let _ = writeln!(
            s,
            "## Environment\n\n- Kiln {}, burn {}, polars {}\n- trained on: {}\n- exported on: {} ({} {}) at {}\n",
            b.kiln, b.burn, b.polars, b.trained_on, b.host, b.os, b.arch, info.exported_at
        );
        s
    }
}

/// Check a bundle against its manifest: every listed file present with its hash, nothing else beside
/// them; its description.
pub fn verify_bundle(dir: &Path) -> Result<BundleInfo> {
    let bad = |why: String| invalid(format!("{} is refused as a bundle: {why}", dir.display()));
    let manifest_path = dir.join(MANIFEST);
    let text = std::fs::read(&manifest_path)
        .map_err(|e| bad(format!("its manifest cannot be read ({e})")))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| bad(format!("its manifest is not valid ({e})")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "its format is `{}`, this Kiln reads `{FORMAT}`",
            manifest.format
        )));
    }
    for name in [WEIGHTS, MODEL, CARD] {
        if !manifest.files.contains_key(name) {
            return Err(bad(format!("the manifest does not list `{name}`")));
        }
    }
    for (name, expected) in &manifest.files {
        let path = dir.join(name);
        if name.contains('/') || name.contains('\\') || name == MANIFEST {
            return Err(bad(format!("the manifest lists `{name}`")));
        }
        if !path.is_file() {
            return Err(bad(format!("`{name}` is missing")));
        }
        let found = ObjectStore::hash_file(&path)?;
        if &found != expected {
            return Err(bad(format!(
                "`{name}` does not match its hash in the manifest (changed after export: expected {expected}, found {found})"
            )));
        }
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let name = entry.map_err(io(dir))?.file_name();
        let name = name.to_string_lossy();
        if name != MANIFEST && !manifest.files.contains_key(name.as_ref()) {
            return Err(bad(format!("`{name}` is not in the manifest")));
        }
    }
    bundle_info(dir)
}

/// A bundle's description (`model.json`) as written, not checked against the manifest: what to call the
/// model before it is opened. [`open_bundle`] checks everything before a model is served.
pub fn bundle_info(dir: &Path) -> Result<BundleInfo> {
    let path = dir.join(MODEL);
    let text = std::fs::read(&path).map_err(|e| {
        invalid(format!(
            "{} is refused as a bundle: `{MODEL}` cannot be read ({e})",
            dir.display()
        ))
    })?;
    serde_json::from_slice(&text).map_err(|e| {
        invalid(format!(
            "{} is refused as a bundle: `{MODEL}` is not valid ({e})",
            dir.display()
        ))
    })
}

/// Open a bundle for serving: verified, then loaded on the CPU.
pub fn open_bundle(dir: &Path) -> Result<(LoadedModel, BundleInfo)> {
    let info = verify_bundle(dir)?;
    let bad = |what: &str, e: serde_json::Error| {
        invalid(format!(
            "{} is refused as a bundle: its {what} cannot be read ({e})",
            dir.display()
        ))
    };
    let spec: kiln_train::FeatureSpec =
        serde_json::from_value(info.feature_spec.clone()).map_err(|e| bad("feature spec", e))?;
    let config: kiln_train::NetConfig = serde_json::from_value(info.model_config.clone())
        .map_err(|e| bad("network configuration", e))?;
    let model = LoadedModel::from_parts(info.run_id, spec, &config, &dir.join(WEIGHTS))?;
    Ok((model, info))
}
