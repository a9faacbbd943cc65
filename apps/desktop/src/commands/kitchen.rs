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

#[derive(Debug, Serialize, specta::Type)]
pub struct KitchenItemView {
    pub line_id: String,
    pub name: String,
    pub qty: i64,
    pub modifiers: Vec<String>,
    pub note: String,
    pub bumped: bool,
}

#[derive(Debug, Serialize, specta::Type)]
pub struct TicketView {
    pub id: String,
    pub sale_id: String,
    pub station: String,
    pub ticket: Option<String>,
    pub course: i64,
    pub status: String,
    pub fired_at: i64,
    pub age_ms: i64,
    pub bumped_at: Option<i64>,
    /// `counter` or `table` (a table or tab); `None` on tickets written before it was kept.
    pub order_type: Option<String>,
    /// The name of who took the order (the sale's opener), when known.
    pub server: Option<String>,
    /// Guests at the table when it was fired (0: not given).
    pub guests: i64,
    pub items: Vec<KitchenItemView>,
}

/// How many bumped tickets a station lists for recall.
pub const RECENT_BUMPED: i64 = 10;

#[derive(Debug, Serialize, specta::Type)]
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
    /// Per station, its last [`RECENT_BUMPED`] bumped tickets, newest first: any can be recalled.
    pub recent_bumped: BTreeMap<String, Vec<TicketView>>,
    pub thresholds: KdsSetup,
}

/// One order on the expo screen: its tickets of every station, bumped (done) or not.
#[derive(Debug, Serialize, specta::Type)]
pub struct ExpoOrder {
    pub sale_id: String,
    pub ticket: Option<String>,
    pub order_type: Option<String>,
    pub server: Option<String>,
    /// When its first ticket was fired.
    pub fired_at: i64,
    /// Tickets bumped (done) of all its tickets.
    pub done: usize,
    pub tickets: Vec<TicketView>,
}

/// The expeditor's view: every order with a ticket still open, oldest first.
#[derive(Debug, Serialize, specta::Type)]
pub struct Expo {
    pub now: i64,
    pub orders: Vec<ExpoOrder>,
}

/// Staff id → name, for the server shown on a ticket.
fn names(store: &pos_core::store::Store) -> CmdResult<BTreeMap<String, String>> {
    Ok(store
        .staff()?
        .into_iter()
        .map(|(id, name, _)| (id.to_string(), name))
        .collect())
}

/// A ticket as the screen shows it, under its order's current table (`order`, from
/// `Store::kitchen_order_of`: a table moved or merged after firing).
fn view(
    id: uuid::Uuid,
    t: &KitchenTicket,
    order: (String, Option<String>),
    now: i64,
    names: &BTreeMap<String, String>,
) -> TicketView {
    let mut items: Vec<_> = t.items.iter().collect();
    items.sort_by_key(|(_, i)| i.pos);
    TicketView {
        id: id.to_string(),
        sale_id: order.0,
        station: t.station.clone(),
        ticket: order.1.or_else(|| t.ticket.clone()),
        course: t.course,
        status: t.status.as_str().to_string(),
        fired_at: t.fired_at,
        age_ms: t.age_ms(now),
        bumped_at: t.bumped_at,
        order_type: t.order_type().map(str::to_string),
        server: t.server.as_ref().and_then(|s| names.get(s).cloned()),
        guests: t.guests,
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
    let names = names(&store)?;
    let mut recent_bumped = BTreeMap::new();
    for st in &stations {
        let mut list = Vec::new();
        for b in store.recently_bumped(Some(st), RECENT_BUMPED)? {
            let t: KitchenTicket = store.get(b.id)?;
            let order = store.kitchen_order_of(&t.sale_id)?;
            list.push(view(b.id, &t, order, now, &names));
        }
        recent_bumped.insert(st.clone(), list);
    }
    let mut tickets = Vec::with_capacity(docs.len());
    for (id, t) in docs {
        let order = store.kitchen_order_of(&t.sale_id)?;
        tickets.push(view(id, &t, order, now, &names));
    }
    Ok(Board {
        now,
        stations,
        tickets,
        all_day: counts,
        last_bumped,
        last_bumped_by_station,
        recent_bumped,
        thresholds,
    })
}

/// Open tickets (of one station, or all), oldest first, with all-day counts.
#[tauri::command]
#[specta::specta]
pub fn kitchen_board(state: State<'_, AppState>, station: Option<String>) -> CmdResult<Board> {
    board(&mut state.lock(), station)
}

/// The expo view: every order with an open ticket, its tickets of all stations together, so
/// the expeditor sees which are done (bumped) and which are not.
#[tauri::command]
#[specta::specta]
pub fn kitchen_expo(state: State<'_, AppState>) -> CmdResult<Expo> {
    let inner = state.lock();
    let mut store = inner.store()?;
    let now = now_ms();
    let names = names(&store)?;
    // Tickets are grouped by the order they belong to now: a table merged into another after
    // firing shows its tickets with that table's.
    let mut sales_of: Vec<(String, Vec<String>)> = Vec::new();
    for open in store.kitchen_tickets(None, false)? {
        let t: KitchenTicket = store.get(open.id)?;
        let (order, _) = store.kitchen_order_of(&t.sale_id)?;
        match sales_of.iter_mut().find(|(o, _)| *o == order) {
            Some((_, sales)) if !sales.contains(&t.sale_id) => sales.push(t.sale_id.clone()),
            Some(_) => {}
            None => sales_of.push((order, vec![t.sale_id.clone()])),
        }
    }
    let mut orders: Vec<ExpoOrder> = Vec::new();
    for (order, sales) in sales_of {
        let mut docs = Vec::new();
        for sale in &sales {
            for s in store.kitchen_tickets_of_sale(sale)? {
                docs.push((s.id, store.get::<KitchenTicket>(s.id)?));
            }
        }
        docs.sort_by(|(a_id, a), (b_id, b)| {
            (a.fired_at, &a.station, a_id).cmp(&(b.fired_at, &b.station, b_id))
        });
        let Some((_, first)) = docs.first() else {
            continue;
        };
        let first = first.clone();
        let label = store.kitchen_order_of(&order)?.1;
        let tickets: Vec<TicketView> = docs
            .iter()
            .map(|(id, t)| view(*id, t, (order.clone(), label.clone()), now, &names))
            .collect();
        orders.push(ExpoOrder {
            sale_id: order.clone(),
            ticket: label.or_else(|| first.ticket.clone()),
            order_type: first.order_type().map(str::to_string),
            server: first.server.as_ref().and_then(|s| names.get(s).cloned()),
            fired_at: tickets
                .iter()
                .map(|v| v.fired_at)
                .min()
                .unwrap_or(first.fired_at),
            done: tickets.iter().filter(|v| v.status == "bumped").count(),
            tickets,
        });
    }
    Ok(Expo { now, orders })
}

#[derive(Debug, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ActionInput {
    Start,
    Ready,
    Bump,
    Recall,
    BumpItem,
}

/// Starts, readies, bumps or recalls a ticket, or bumps one item (`line_id`).
#[tauri::command]
#[specta::specta]
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
