//! Kitchen tickets: fired lines routed to stations, and their life on the KDS.
//!
//! `New → InProgress → Ready → Bumped`; a bumped ticket can be recalled. Every transition keeps
//! its timestamp, so a screen can show how long a ticket has waited.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::sale::{Sale, SaleKind, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KitchenError {
    #[error("ticket is {from:?}; cannot move it to {to:?}")]
    BadTransition {
        from: TicketStatus,
        to: TicketStatus,
    },
    #[error("unknown ticket item {0}")]
    UnknownItem(String),
    #[error("unknown sale line {0}")]
    UnknownLine(String),
    #[error("line {0} has not been fired")]
    NotFired(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TicketStatus {
    New,
    InProgress,
    Ready,
    Bumped,
}

impl TicketStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TicketStatus::New => "new",
            TicketStatus::InProgress => "in_progress",
            TicketStatus::Ready => "ready",
            TicketStatus::Bumped => "bumped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitchenItem {
    pub pos: i64,
    pub item_id: String,
    pub name: String,
    pub qty: i64,
    pub modifiers: Vec<String>,
    pub note: String,
    pub bumped_at: Option<Timestamp>,
}

/// A kitchen ticket document: the lines of one firing for one station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitchenTicket {
    pub sale_id: String,
    pub station: String,
    pub ticket: Option<String>,
    pub course: i64,
    /// Keyed by sale line id.
    pub items: BTreeMap<String, KitchenItem>,
    pub status: TicketStatus,
    pub fired_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ready_at: Option<Timestamp>,
    pub bumped_at: Option<Timestamp>,
    pub recalled_at: Option<Timestamp>,
    /// The order's type when it was fired: a counter sale or a table/tab (the sale's kind).
    /// Absent in tickets written before (issue 17).
    #[serde(default)]
    pub kind: Option<SaleKind>,
    /// Who took the order: the user id of the sale's opener, whose name the KDS shows.
    /// Absent in tickets written before.
    #[serde(default)]
    pub server: Option<String>,
    /// Guests at the table when it was fired (0: not given). Absent in tickets written before.
    #[serde(default)]
    pub guests: i64,
}

/// Routes fired lines to stations: one ticket per (station, course). Lines whose item has no
/// station (retail goods) go nowhere.
pub fn route(
    sale_id: Uuid,
    sale: &Sale,
    fired_line_ids: &[String],
    now: Timestamp,
) -> Result<Vec<KitchenTicket>, KitchenError> {
    let mut by_station: BTreeMap<(String, i64), KitchenTicket> = BTreeMap::new();
    for id in fired_line_ids {
        let line = sale
            .lines
            .get(id)
            .ok_or_else(|| KitchenError::UnknownLine(id.clone()))?;
        if line.fired_at.is_none() {
            return Err(KitchenError::NotFired(id.clone()));
        }
        let Some(station) = line.station.clone() else {
            continue;
        };
        let t = by_station
            .entry((station.clone(), line.course))
            .or_insert_with(|| KitchenTicket {
                sale_id: sale_id.to_string(),
                station,
                ticket: sale.ticket.clone(),
                course: line.course,
                items: BTreeMap::new(),
                status: TicketStatus::New,
                fired_at: now,
                started_at: None,
                ready_at: None,
                bumped_at: None,
                recalled_at: None,
                kind: Some(sale.kind),
                server: Some(sale.opened_by.clone()),
                guests: sale.guests,
            });
        t.items.insert(
            id.clone(),
            KitchenItem {
                pos: line.pos,
                item_id: line.item_id.clone(),
                name: line.name.clone(),
                qty: line.qty,
                modifiers: line.modifiers.iter().map(|m| m.name.clone()).collect(),
                note: line.note.clone(),
                bumped_at: None,
            },
        );
    }
    Ok(by_station.into_values().collect())
}

impl KitchenTicket {
    /// What the KDS calls the order's type: `counter`, `table` (a table or tab), or `None` for a
    /// ticket written before tickets kept it.
    pub fn order_type(&self) -> Option<&'static str> {
        self.kind.map(|k| match k {
            SaleKind::Quick => "counter",
            SaleKind::Ticket => "table",
        })
    }

    fn to(&mut self, to: TicketStatus) -> Result<(), KitchenError> {
        let ok = matches!(
            (self.status, to),
            (TicketStatus::New, TicketStatus::InProgress)
                | (TicketStatus::InProgress, TicketStatus::Ready)
                | (TicketStatus::New, TicketStatus::Bumped)
                | (TicketStatus::InProgress, TicketStatus::Bumped)
                | (TicketStatus::Ready, TicketStatus::Bumped)
        );
        if !ok {
            return Err(KitchenError::BadTransition {
                from: self.status,
                to,
            });
        }
        self.status = to;
        Ok(())
    }

    pub fn start(&mut self, now: Timestamp) -> Result<(), KitchenError> {
        self.to(TicketStatus::InProgress)?;
        self.started_at = Some(now);
        Ok(())
    }

    pub fn ready(&mut self, now: Timestamp) -> Result<(), KitchenError> {
        self.to(TicketStatus::Ready)?;
        self.ready_at = Some(now);
        Ok(())
    }

    /// Bumps the whole ticket off the screen.
    pub fn bump(&mut self, now: Timestamp) -> Result<(), KitchenError> {
        self.to(TicketStatus::Bumped)?;
        self.bumped_at = Some(now);
        for i in self.items.values_mut() {
            i.bumped_at.get_or_insert(now);
        }
        Ok(())
    }

    /// Bumps one item; the ticket is bumped with its last item.
    pub fn bump_item(&mut self, line_id: &str, now: Timestamp) -> Result<(), KitchenError> {
        if self.status == TicketStatus::Bumped {
            return Err(KitchenError::BadTransition {
                from: self.status,
                to: TicketStatus::Bumped,
            });
        }
        let item = self
            .items
            .get_mut(line_id)
            .ok_or_else(|| KitchenError::UnknownItem(line_id.to_string()))?;
        item.bumped_at.get_or_insert(now);
        if self.items.values().all(|i| i.bumped_at.is_some()) {
            self.bump(now)?;
        }
        Ok(())
    }

    /// Brings a bumped ticket back to the screen, with its items un-bumped.
    pub fn recall(&mut self, now: Timestamp) -> Result<(), KitchenError> {
        if self.status != TicketStatus::Bumped {
            return Err(KitchenError::BadTransition {
                from: self.status,
                to: TicketStatus::InProgress,
            });
        }
        self.status = if self.ready_at.is_some() {
            TicketStatus::Ready
        } else {
            TicketStatus::InProgress
        };
        self.bumped_at = None;
        self.recalled_at = Some(now);
        for i in self.items.values_mut() {
            i.bumped_at = None;
        }
        Ok(())
    }

    /// Milliseconds this ticket has waited (until bumped, or until `now`).
    pub fn age_ms(&self, now: Timestamp) -> i64 {
        self.bumped_at.unwrap_or(now) - self.fired_at
    }
}

/// All-day counts for a station: item name → quantity still to make, over tickets not bumped.
pub fn all_day<'a>(
    tickets: impl IntoIterator<Item = &'a KitchenTicket>,
    station: &str,
) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for t in tickets {
        if t.station != station || t.status == TicketStatus::Bumped {
            continue;
        }
        for i in t.items.values().filter(|i| i.bumped_at.is_none()) {
            *counts.entry(i.name.clone()).or_insert(0) += i.qty;
        }
    }
    counts
}
