//! Recorded preprocessing: a dataset derived from another by a polars SQL query (the parent is the table
//! `self`; optionally left-joined first with a third dataset on a key). The recipe is part of every
//! version's lineage; when the parent gets a new version the recipe runs again, and changing the recipe
//! makes a new recipe version — never a silent change.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{CoreError, DatasetVersion, ImportOutcome, Result, VersionMeta, Workspace};

/// How a derived dataset is made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipe {
    /// The parent: `NAME` (its latest version, followed as it changes) or `NAME@V` (pinned).
    pub from: String,
    /// polars SQL over the table `self`.
    pub sql: String,
    /// Another dataset (`NAME` or `NAME@V`) left-joined to the parent on `on` before the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
}

impl Recipe {
    /// Whether the recipe follows the latest version of `dataset` (as its parent or its join).
    fn follows(&self, dataset: &str) -> bool {
        [Some(&self.from), self.join.as_ref()]
            .into_iter()
            .flatten()
            .any(|r| r == dataset)
    }
}

/// The recipe a version was made by, if it was derived.
pub fn recipe_of(v: &DatasetVersion) -> Option<Recipe> {
    serde_json::from_value(v.import_options.get("recipe")?.clone()).ok()
}

impl Workspace {
    /// Make a new version of dataset `name` by `recipe` (a new dataset, or the next version of one that
    /// was derived before; an imported dataset's name is refused).
    pub fn derive_sql(
        &mut self,
        name: &str,
        recipe: &Recipe,
        message: Option<&str>,
        cancel: &kiln_data::Cancel,
        progress: &kiln_data::Progress,
    ) -> Result<ImportOutcome> {
        kiln_store::validate_name(name)?;
        if recipe.sql.trim().is_empty() {
            return Err(CoreError::Invalid(
                "a recipe needs its SQL (--sql \"SELECT … FROM self\")".into(),
            ));
        }
        if recipe.join.is_some() != recipe.on.is_some() {
            return Err(CoreError::Invalid(
                "--join and --on go together: the dataset to join and the key column".into(),
            ));
        }
        let parent = self.resolve(&recipe.from)?;
        if parent.dataset == name {
            return Err(CoreError::Invalid(format!(
                "`{name}` cannot be derived from itself"
            )));
        }
        let joined = recipe
            .join
            .as_deref()
            .map(|j| self.resolve(j))
            .transpose()?;
        let previous = self.store.get_version(name, None).ok();
        let recipe_version = match &previous {
            None => 1,
            Some(p) => match (recipe_of(p), p.details["recipe"]["recipe_version"].as_i64()) {
                (Some(r), Some(n)) => n + i64::from(&r != recipe),
                _ => {
                    return Err(CoreError::Invalid(format!(
                        "dataset `{name}` was not derived by a recipe: choose another name"
                    )));
                }
            },
        };
        progress.set(0.05, "running the recipe");
        let src = self.objects.local(&parent.object_path)?;
        let other = joined
            .as_ref()
            .map(|j| self.objects.local(&j.object_path))
            .transpose()?;
        let tmp = self.objects.temp("parquet");
        let streamed = kiln_data::derive_sql(
            &src,
            &recipe.sql,
            other.as_deref().zip(recipe.on.as_deref()),
            tmp.path(),
            cancel,
        )?;
        let meta = VersionMeta {
            dataset: name,
            source_path: None,
            import_options: json!({ "recipe": recipe }),
            operation: "derive",
            parent_id: Some(parent.id),
            message,
            details: json!({ "recipe": {
                "sql": recipe.sql,
                "from": format!("{}@{}", parent.dataset, parent.version),
                "join": joined.as_ref().map(|j| format!("{}@{}", j.dataset, j.version)),
                "on": recipe.on,
                "recipe_version": recipe_version,
            }}),
            clear_drafts: None,
            author: None,
        };
        self.record_streamed(tmp, streamed, &meta, (cancel, progress))
    }

    /// Run again the recipes that follow `dataset` (after it got a new version), and those that follow
    /// them in turn; the versions made, in order.
    pub fn refresh_derived(
        &mut self,
        dataset: &str,
        cancel: &kiln_data::Cancel,
        progress: &kiln_data::Progress,
    ) -> Result<Vec<ImportOutcome>> {
        let mut made = Vec::new();
        let mut queue = vec![dataset.to_owned()];
        // Each derived dataset runs once per refresh, whatever the shape of the recipes' graph.
        let mut done = std::collections::HashSet::from([dataset.to_owned()]);
        while let Some(changed) = queue.pop() {
            for d in self.datasets()? {
                if done.contains(&d.name) {
                    continue;
                }
                let Ok(latest) = self.store.get_version(&d.name, None) else {
                    continue;
                };
                let Some(recipe) = recipe_of(&latest).filter(|r| r.follows(&changed)) else {
                    continue;
                };
                let out = self.derive_sql(
                    &d.name,
                    &recipe,
                    Some(&format!("{changed} has a new version")),
                    cancel,
                    progress,
                )?;
                done.insert(d.name.clone());
                if out.created {
                    queue.push(d.name.clone());
                    made.push(out);
                }
            }
        }
        Ok(made)
    }
}
