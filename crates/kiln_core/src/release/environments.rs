//! Environments: dev, QA and production as named stages in promotion order, each serving an alias
//! (`dev`, `staging`, `champion` by default) with its own serving settings. A release request puts its
//! version in QA; approval moves it to production only from there (the database checks both).

use serde::{Deserialize, Serialize};

use super::{Role, invalid};
use crate::{Result, Workspace};

/// How an environment's server runs (`kiln serve --env NAME`); flags given to `kiln serve` win.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvSettings {
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The name of the environment variable holding the bearer token (the token itself is never
    /// stored).
    pub token_env: Option<String>,
    pub deadline_ms: Option<u64>,
    pub fallback_class: Option<String>,
    pub fallback_previous: bool,
}

/// An environment and what it serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    pub alias: String,
    pub settings: EnvSettings,
}

/// A model's path through the environments: each with the version it serves now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathStep {
    pub environment: Environment,
    pub version: Option<i64>,
}

impl Workspace {
    /// The environments in promotion order.
    pub fn environments(&self) -> Result<Vec<Environment>> {
        self.store
            .environments()?
            .into_iter()
            .map(|e| {
                Ok(Environment {
                    settings: serde_json::from_value(e.settings).map_err(|err| {
                        invalid(format!(
                            "environment `{}` has unreadable settings: {err}",
                            e.name
                        ))
                    })?,
                    name: e.name,
                    alias: e.alias,
                })
            })
            .collect()
    }

    pub fn environment(&self, name: &str) -> Result<Environment> {
        self.environments()?
            .into_iter()
            .find(|e| e.name == name)
            .ok_or_else(|| kiln_store::StoreError::NoEnvironment(name.to_owned()).into())
    }

    /// Replace an environment's serving settings (an admin).
    pub fn set_environment(&mut self, name: &str, settings: &EnvSettings, by: &str) -> Result<()> {
        let by = self.who(by)?;
        self.environment(name)?;
        if self.team().is_none() && self.role_of(&by)? != Some(Role::Admin) {
            return Err(invalid(format!(
                "only an admin changes an environment (`{by}` is {})",
                self.role_text(&by)?
            )));
        }
        Ok(self.store.set_environment(
            name,
            &serde_json::to_value(settings).unwrap_or_default(),
            &by,
        )?)
    }

    /// Where each version of `model` is: every environment with the version it serves.
    pub fn environment_path(&self, model: &str) -> Result<Vec<PathStep>> {
        self.environments()?
            .into_iter()
            .map(|e| {
                Ok(PathStep {
                    version: self.store.alias(model, &e.alias)?,
                    environment: e,
                })
            })
            .collect()
    }

    /// Put a version in an environment before production (production moves only through an approved
    /// release request; QA also takes a version when a request is filed).
    pub fn promote(&mut self, model: &str, version: i64, to: &str, by: &str) -> Result<()> {
        let env = self.environment(to)?;
        if env.alias == kiln_store::CHAMPION {
            return Err(invalid(format!(
                "{model} reaches {to} only through an approved release request (kiln release request {model} --version {version})"
            )));
        }
        self.set_alias(model, &env.alias, version, by)
    }
}
