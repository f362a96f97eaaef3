//! Labeling sessions and label schemas: one rule for the classes, colours and hotkeys a label column gets,
//! whether the Label panel opens it or `kiln labels schema` defines it, and the session that keeps every
//! keystroke durable (a draft row per keystroke) with undo.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kiln_data::polars::prelude::*;
use kiln_store::{DatasetVersion, LabelClass};

use crate::{Result, Workspace, invalid};

/// Class colours, in order.
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Hotkeys in the order they are handed out: 1–9, 0, then A–Z.
pub const HOTKEYS: &str = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The most classes a default schema offers (one per hotkey).
pub const MAX_DEFAULT_CLASSES: usize = 36;

/// Give classes colours and hotkeys: a class whose name is a single character that is a hotkey gets it
/// (`a` → `A`, `3` → `3`), the others the next free key of 1–9, 0, A–Z. `explicit` hotkeys (by position)
/// win over both and are never handed out again.
pub fn classes_with_hotkeys(names: Vec<String>, explicit: &[Option<String>]) -> Vec<LabelClass> {
    let keys: Vec<String> = HOTKEYS.chars().map(|c| c.to_string()).collect();
    let mut used: BTreeSet<String> = explicit
        .iter()
        .flatten()
        .map(|k| k.to_ascii_uppercase())
        .collect();
    let own: Vec<Option<String>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if let Some(Some(k)) = explicit.get(i) {
                return Some(k.clone());
            }
            let up = n.to_ascii_uppercase();
            (up.chars().count() == 1 && keys.contains(&up) && used.insert(up.clone())).then_some(up)
        })
        .collect();
    names
        .into_iter()
        .zip(own)
        .enumerate()
        .map(|(i, (name, own))| {
            let hotkey = own.or_else(|| {
                keys.iter()
                    .find(|k| !used.contains(*k))
                    .cloned()
                    .inspect(|k| {
                        used.insert(k.clone());
                    })
            });
            LabelClass {
                name,
                color: PALETTE[i % PALETTE.len()].to_owned(),
                hotkey,
            }
        })
        .collect()
}

/// The schema a label column gets when none is defined: its distinct values (at most
/// [`MAX_DEFAULT_CLASSES`], else none), numbers in numeric order, with [`classes_with_hotkeys`].
pub fn default_schema(values: &[Option<String>]) -> Vec<LabelClass> {
    let mut names: Vec<&str> = values
        .iter()
        .flatten()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.len() > MAX_DEFAULT_CLASSES {
        names.clear();
    }
    names.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    classes_with_hotkeys(names.iter().map(|n| (*n).to_owned()).collect(), &[])
}

/// Parse `NAME[:HOTKEY[:#RRGGBB]]` class specs (the command line's form) into a schema; classes without
/// a hotkey or colour get them by the same rule as [`default_schema`].
pub fn parse_classes(specs: &[String]) -> Result<Vec<LabelClass>> {
    let mut names = Vec::with_capacity(specs.len());
    let mut keys = Vec::with_capacity(specs.len());
    let mut colors = Vec::with_capacity(specs.len());
    for s in specs {
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or_default().trim().to_owned();
        if name.is_empty() {
            return Err(invalid(format!("empty class name in `{s}`")));
        }
        names.push(name);
        keys.push(
            parts
                .next()
                .map(|k| k.trim().to_ascii_uppercase())
                .filter(|k| !k.is_empty()),
        );
        colors.push(
            parts
                .next()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty()),
        );
    }
    let mut classes = classes_with_hotkeys(names, &keys);
    for (c, color) in classes.iter_mut().zip(colors) {
        if let Some(color) = color {
            c.color = color;
        }
    }
    Ok(classes)
}

/// One keystroke's undo record: row ids and their previous draft state (`None` = no draft,
/// `Some(None)` = a draft that cleared the label).
#[allow(clippy::option_option)]
pub type UndoGroup = Vec<(u64, Option<Option<String>>)>;

/// The rows of a version larger than the memory budget that a labeling session holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelWindow {
    /// Position of the window's first row in the version.
    pub start: usize,
    pub rows: usize,
    /// Rows in the version.
    pub total: usize,
}

impl LabelWindow {
    /// Where the next window starts, if any rows follow this one.
    pub fn next(&self) -> Option<usize> {
        let end = self.start + self.rows;
        (end < self.total).then_some(end)
    }

    /// Where the previous window starts, if this one is not the first.
    pub fn previous(&self) -> Option<usize> {
        (self.start > 0).then(|| self.start.saturating_sub(self.rows))
    }
}

/// An open labeling session: one dataset version (with row ids), one label column, its schema, the saved
/// draft and an undo stack. Every change goes to the workspace draft before the session shows it.
#[derive(Clone, Debug)]
pub struct LabelSession {
    pub base: DatasetVersion,
    pub column: String,
    /// For a version larger than the memory budget: which of its rows this session holds.
    pub window: Option<LabelWindow>,
    pub df: Arc<DataFrame>,
    /// Row ids by position (shared: a worker's snapshot of the session does not copy them).
    pub ids: Arc<Vec<u64>>,
    /// Labels in `base`, by position (shared like the ids).
    pub committed: Arc<Vec<Option<String>>>,
    /// Saved draft labels by row id (`None` = cleared).
    pub drafts: HashMap<u64, Option<String>>,
    pub schema: Vec<LabelClass>,
    pub undo: Vec<UndoGroup>,
    /// Position of the current item.
    pub cursor: usize,
    pub only_unlabeled: bool,
    /// A model's help: pre-labels, an uncertainty order, a suspect review (see `kiln_core::assist`).
    pub assist: crate::assist::Assist,
}

impl Workspace {
    /// Open a labeling session on `base` for `column` (created on commit when the version lacks it):
    /// data with row ids, committed labels, the saved draft, and the column's schema (the default one
    /// from its values when none is defined).
    pub fn label_session(&self, base: DatasetVersion, column: String) -> Result<LabelSession> {
        self.label_session_at(base, column, 0)
    }

    /// A labeling session on `base` whose current item is the row with id `row_id`: in a version larger
    /// than the memory budget, the window that holds it (found in one streaming pass over the ids;
    /// windows start at multiples of their length, as from the first row with *Next rows*). Fails
    /// naming the id when no row has it.
    pub fn label_session_at_row(
        &self,
        base: DatasetVersion,
        column: String,
        row_id: u64,
    ) -> Result<LabelSession> {
        let missing = invalid(format!(
            "{}@{} has no row with id {row_id}",
            base.dataset, base.version
        ));
        let start = match self.larger_than_budget(&base) {
            None => 0,
            Some(paged) => {
                let Some(pos) = kiln_data::position_of_row_id(paged.path()?, row_id)? else {
                    return Err(missing);
                };
                let rows = self.label_window_rows(&paged)?;
                pos - pos % rows
            }
        };
        let mut session = self.label_session_at(base, column, start)?;
        let pos = session.position_of(row_id).ok_or(missing)?;
        session.move_to(pos);
        Ok(session)
    }

    /// The committed labels of `column` in the whole of `base`, by class, most first (one streaming pass
    /// over the column): what a session holding a window of a large version cannot count itself.
    pub fn committed_label_counts(
        &self,
        base: &DatasetVersion,
        column: &str,
    ) -> Result<Vec<(String, u64)>> {
        let path = self.objects.absolute(&base.object_path);
        Ok(kiln_data::counts_by_value(&path, column)?)
    }

    /// How many rows a labeling window of `paged` holds: a quarter of the memory budget's worth (at
    /// least 1,000, at most all of them) — a row as decoded, plus its id and label in the session.
    fn label_window_rows(&self, paged: &kiln_data::PagedFrame) -> Result<usize> {
        let total = paged.height();
        let per_row = paged.decoded_bytes_per_row()? + 8 + 32;
        Ok(usize::try_from((self.memory_budget() / 4) / per_row)
            .unwrap_or(usize::MAX)
            .clamp(1_000, total.max(1)))
    }

    /// A labeling session on rows `start..` of `base`. A version that fits the memory budget is held
    /// whole (`start` is ignored); a larger one is labeled a window at a time — the window's rows, ids and
    /// labels are read from the row groups that hold them (a quarter of the budget's worth of rows), and
    /// the drafts of every window are committed together, joined by row id as the version streams.
    pub fn label_session_at(
        &self,
        base: DatasetVersion,
        column: String,
        start: usize,
    ) -> Result<LabelSession> {
        if column.trim().is_empty() || column == kiln_data::ROW_ID {
            return Err(invalid("choose a label column"));
        }
        let (df, window) = match self.larger_than_budget(&base) {
            None => (self.load_with_ids(&base)?, None),
            Some(paged) => {
                let total = paged.height();
                let rows = self.label_window_rows(&paged)?;
                let start = start.min(total.saturating_sub(1));
                let df = kiln_data::scan_with_ids(paged.path()?)?
                    .slice(start as i64, u32::try_from(rows).unwrap_or(u32::MAX))
                    .collect()?;
                let window = LabelWindow {
                    start,
                    rows: df.height(),
                    total,
                };
                (df, Some(window))
            }
        };
        let ids = kiln_data::row_ids(&df)?;
        let committed: Vec<Option<String>> = match df.column(&column) {
            Ok(c) => {
                let s = c.as_materialized_series().cast(&DataType::String)?;
                s.str()?.iter().map(|v| v.map(str::to_owned)).collect()
            }
            Err(_) => vec![None; df.height()],
        };
        let drafts: HashMap<u64, Option<String>> =
            self.drafts(&base, &column)?.into_iter().collect();
        let schema = match self.label_schema(&base.dataset, &column)? {
            Some(s) => s,
            None => default_schema(&committed),
        };
        Ok(LabelSession {
            base,
            column,
            window,
            df: Arc::new(df),
            ids: Arc::new(ids),
            committed: Arc::new(committed),
            drafts,
            schema,
            undo: Vec::new(),
            cursor: 0,
            only_unlabeled: false,
            assist: crate::assist::Assist::default(),
        })
    }
}

impl LabelSession {
    /// The label a row has now: its draft if any, else the committed value.
    pub fn label_at(&self, pos: usize) -> Option<&str> {
        match self.drafts.get(&self.ids[pos]) {
            Some(d) => d.as_deref(),
            None => self.committed[pos].as_deref(),
        }
    }

    pub fn labeled(&self) -> usize {
        (0..self.ids.len())
            .filter(|&i| self.label_at(i).is_some())
            .count()
    }

    /// Rows per class (schema order first, then other values), plus unlabeled.
    pub fn distribution(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..self.ids.len() {
            if let Some(l) = self.label_at(i) {
                *counts.entry(l.to_owned()).or_default() += 1;
            }
        }
        let mut out: Vec<(String, usize)> = self
            .schema
            .iter()
            .map(|c| (c.name.clone(), counts.remove(&c.name).unwrap_or(0)))
            .collect();
        out.extend(counts);
        out
    }

    /// Positions shown (all, or only unlabeled ones plus the current item — most uncertain first when
    /// an uncertainty order is set).
    pub fn visible(&self) -> Vec<usize> {
        if self.only_unlabeled
            && let Some(order) = &self.assist.order
        {
            return order
                .iter()
                .copied()
                .filter(|&i| self.label_at(i).is_none() || i == self.cursor)
                .collect();
        }
        (0..self.ids.len())
            .filter(|&i| !self.only_unlabeled || self.label_at(i).is_none() || i == self.cursor)
            .collect()
    }

    /// The next position after `from` in direction `forward` that is shown.
    pub fn step(&self, from: usize, forward: bool) -> usize {
        if self.only_unlabeled
            && let Some(order) = &self.assist.order
        {
            let unlabeled = |i: &&usize| self.label_at(**i).is_none();
            let at = order.iter().position(|&p| p == from);
            let next = match (at, forward) {
                (Some(a), true) => order[a + 1..].iter().find(unlabeled),
                (Some(a), false) => order[..a].iter().rev().find(unlabeled),
                (None, _) => order.iter().find(unlabeled),
            };
            return next.copied().unwrap_or(from);
        }
        let n = self.ids.len();
        let mut i = from;
        loop {
            let next = if forward { i + 1 } else { i.wrapping_sub(1) };
            if next >= n {
                return from;
            }
            i = next;
            if !self.only_unlabeled || self.label_at(i).is_none() {
                return i;
            }
        }
    }

    pub fn position_of(&self, row_id: u64) -> Option<usize> {
        self.ids.iter().position(|&id| id == row_id)
    }

    pub fn draft_count(&self) -> usize {
        self.drafts.len()
    }

    /// Move the current item (clamped to the rows).
    pub fn move_to(&mut self, pos: usize) {
        self.cursor = pos.min(self.ids.len().saturating_sub(1));
    }

    /// Label `rows` (`None` clears), saving each to the workspace draft before the session shows it;
    /// one undo step for all of them. With `advance` the cursor moves to the next shown item.
    pub fn set(
        &mut self,
        ws: &Workspace,
        rows: &[u64],
        value: Option<&str>,
        advance: bool,
    ) -> Result<()> {
        let labels: Vec<(u64, Option<String>)> = rows
            .iter()
            .map(|&r| (r, value.map(str::to_owned)))
            .collect();
        self.set_each(ws, &labels)?;
        if advance {
            self.cursor = self.step(self.cursor, true);
        }
        Ok(())
    }

    /// Label each row with its own value, as one undo step.
    pub fn set_each(&mut self, ws: &Workspace, labels: &[(u64, Option<String>)]) -> Result<()> {
        let mut group = Vec::with_capacity(labels.len());
        for (row, value) in labels {
            let previous = self.drafts.get(row).cloned();
            ws.save_draft(&self.base, &self.column, *row, value.as_deref())?;
            self.drafts.insert(*row, value.clone());
            group.push((*row, previous));
        }
        self.undo.push(group);
        Ok(())
    }

    /// Undo the last [`LabelSession::set`]: the draft goes back to what it was, and the cursor to the
    /// first row it touched. Nothing to undo is not an error.
    pub fn undo(&mut self, ws: &Workspace) -> Result<()> {
        let Some(group) = self.undo.pop() else {
            return Ok(());
        };
        let mut first = None;
        for (row, previous) in group.into_iter().rev() {
            match &previous {
                None => ws.remove_draft(&self.base, &self.column, row)?,
                Some(v) => ws.save_draft(&self.base, &self.column, row, v.as_deref())?,
            }
            match previous {
                None => self.drafts.remove(&row),
                Some(v) => self.drafts.insert(row, v),
            };
            first = Some(row);
        }
        if let Some(pos) = first.and_then(|r| self.position_of(r)) {
            self.cursor = pos;
        }
        Ok(())
    }

    /// Save new classes for the session's column (validated by the workspace) and use them.
    pub fn set_schema(&mut self, ws: &Workspace, classes: Vec<LabelClass>) -> Result<()> {
        ws.set_label_schema(&self.base.dataset, &self.column, &classes)?;
        self.schema = classes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_character_classes_keep_their_own_key_and_the_rest_get_free_ones() {
        let c = classes_with_hotkeys(vec!["b".into(), "cat".into(), "1".into()], &[]);
        let keys: Vec<_> = c.iter().map(|c| c.hotkey.as_deref().unwrap()).collect();
        assert_eq!(keys, ["B", "2", "1"]);
        assert_eq!(c[1].color, PALETTE[1]);
    }

    #[test]
    fn default_schema_sorts_numbers_numerically_and_gives_up_past_36_classes() {
        let values: Vec<Option<String>> = ["10", "2", "1", "2"]
            .iter()
            .map(|s| Some((*s).to_owned()))
            .chain([None])
            .collect();
        let names: Vec<_> = default_schema(&values)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["1", "2", "10"]);
        let many: Vec<Option<String>> = (0..37).map(|i| Some(format!("c{i}"))).collect();
        assert!(default_schema(&many).is_empty());
    }

    #[test]
    fn command_line_classes_follow_the_same_rule_with_explicit_keys_first() {
        let c = parse_classes(&["cat:1".into(), "dog".into(), "a::#000000".into()]).unwrap();
        let keys: Vec<_> = c.iter().map(|c| c.hotkey.clone().unwrap()).collect();
        assert_eq!(keys, ["1", "2", "A"]);
        assert_eq!(c[2].color, "#000000");
        assert!(parse_classes(&[":1".into()]).is_err());
    }
}
