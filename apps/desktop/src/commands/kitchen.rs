//! The kitchen display: tickets per station, bump, recall, all-day counts.

use std::collections::BTreeMap;

use pos_core::kitchen::{all_day, KitchenTicket};
use pos_core::store::{now_ms, KitchenAction};
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::config::KdsSetup;
use crate::error::{CmdResult, CommandError};
use crate::state::{AppState, Inner};

use super::id;

#[derive(Debug, Serialize)]
pub struct KitchenItemView {
    pub line_id: String,
    pub name: String,
    pub qty: i64,
    pub modifiers: Vec<String>,
    pub note: String,
    pub bumped: bool,
}

#[derive(Debug, Serialize)]
pub struct TicketView {
    pub id: String,
    pub station: String,
    pub ticket: Option<String>,
    pub course: i64,
    pub status: String,
    pub fired_at: i64,
    pub age_ms: i64,
    pub items: Vec<KitchenItemView>,
}

#[derive(Debug, Serialize)]
pub struct Board {
    pub now: i64,
    pub stations: Vec<String>,
    pub tickets: Vec<TicketView>,
    /// Per station: item name → quantity still to make (`pos_core::kitchen::all_day`).
    pub all_day: BTreeMap<String, BTreeMap<String, i64>>,
    /// The most recently bumped ticket of any shown station.
    pub last_bumped: Option<String>,
    /// Per station, its most recently bumped ticket: what that column's "Recall last" brings
    /// back (issue 17: recall on the grill column brought back a cold ticket).
    pub last_bumped_by_station: BTreeMap<String, String>,
    pub thresholds: KdsSetup,
}

fn board(inner: &mut Inner, station: Option<String>) -> CmdResult<Board> {
    let thresholds = inner.config.kds.clone();
    let station = station.or_else(|| thresholds.station.clone());
    let mut store = inner.store()?;
    let now = now_ms();
    let summaries = store.kitchen_tickets(station.as_deref(), false)?;
    let mut latest: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for t in store.kitchen_tickets(station.as_deref(), true)? {
        let Some(at) = t.bumped_at else { continue };
        let e = latest
            .entry(t.station.clone())
            .or_insert((at, t.id.to_string()));
        if at > e.0 {
            *e = (at, t.id.to_string());
        }
    }
    let last_bumped = latest
        .values()
        .max_by_key(|(at, _)| *at)
        .map(|(_, id)| id.clone());

    let mut docs = Vec::with_capacity(summaries.len());
    for s in &summaries {
        docs.push((s.id, store.get::<KitchenTicket>(s.id)?));
    }
    // A station whose last ticket was bumped keeps its column, so its recall stays in reach.
    let mut stations: Vec<String> = docs
        .iter()
        .map(|(_, t)| t.station.clone())
        .chain(latest.keys().cloned())
        .collect();
    stations.sort();
    stations.dedup();
    let last_bumped_by_station: BTreeMap<String, String> =
        latest.into_iter().map(|(st, (_, id))| (st, id)).collect();
    let counts = stations
        .iter()
        .map(|st| (st.clone(), all_day(docs.iter().map(|(_, t)| t), st)))
        .collect();
    let tickets = docs
        .into_iter()
        .map(|(id, t)| {
            let mut items: Vec<_> = t.items.iter().collect();
            items.sort_by_key(|(_, i)| i.pos);
            TicketView {
                id: id.to_string(),
                station: t.station.clone(),
                ticket: t.ticket.clone(),
                course: t.course,
                status: t.status.as_str().to_string(),
                fired_at: t.fired_at,
                age_ms: t.age_ms(now),
                items: items
                    .into_iter()
                    .map(|(line_id, i)| KitchenItemView {
                        line_id: line_id.clone(),
                        name: i.name.clone(),
                        qty: i.qty,
                        modifiers: i.modifiers.clone(),
                        note: i.note.clone(),
                        bumped: i.bumped_at.is_some(),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Board {
        now,
        stations,
        tickets,
        all_day: counts,
        last_bumped,
        last_bumped_by_station,
        thresholds,
    })
}

/// Open tickets (of one station, or all), oldest first, with all-day counts.
#[tauri::command(rename_all = "snake_case")]
pub fn kitchen_board(state: State<'_, AppState>, station: Option<String>) -> CmdResult<Board> {
    board(&mut state.lock(), station)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionInput {
    Start,
    Ready,
    Bump,
    Recall,
    BumpItem,
}

/// Starts, readies, bumps or recalls a ticket, or bumps one item (`line_id`).
#[tauri::command(rename_all = "snake_case")]
pub fn kitchen_action(
    state: State<'_, AppState>,
    ticket_id: String,
    action: ActionInput,
    line_id: Option<String>,
    station: Option<String>,
) -> CmdResult<Board> {
    let tid = id(&ticket_id)?;
    let action = match action {
        ActionInput::Start => KitchenAction::Start,
        ActionInput::Ready => KitchenAction::Ready,
        ActionInput::Bump => KitchenAction::Bump,
        ActionInput::Recall => KitchenAction::Recall,
        ActionInput::BumpItem => KitchenAction::BumpItem(
            line_id.ok_or_else(|| CommandError::invalid("Which item? A line id is needed."))?,
        ),
    };
    let mut inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    store.kitchen(&actor, tid, action)?;
    drop(store);
    board(&mut inner, station)
}
