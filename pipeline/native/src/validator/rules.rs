//! The stateless rules of `pipeline/core/validation.py`, as a yes/no answer.
//!
//! Only "passes" must be exact: an event that fails here is handed to the Python
//! `EventValidator`, which names the reason and writes the detail (rejections are rare, and
//! their details quote values with Python's `repr`). The tests check both directions.

use std::collections::HashMap;

use super::decode::{Event, BET, CHANNELS, REFUND, WIN};
use super::player_ref::{self, Words};

pub const MAX_TEXT: usize = 128;

pub struct Licence {
    pub kind: u8,
    pub valid_from_us: i64,
    pub valid_to_us: Option<i64>,
    /// Suspensions and revocations: (from, to), to open-ended when None.
    pub stops: Vec<(i64, Option<i64>)>,
}

pub struct Limits {
    pub currency: String,
    pub max_amount_kopecks: i64,
    pub future_skew_us: i64,
    pub late_window_us: i64,
}

/// `ALLOWED_CHANNELS` of `pipeline/core/model.py`: licence kind index -> channel indexes.
fn channel_allowed(licence_kind: u8, channel: u8) -> bool {
    let (establishment, online) = (channel == 0, channel != 0);
    match licence_kind {
        0 | 3 => establishment, // CASINO_ESTABLISHMENT, SLOT_HALL
        1 | 4 => online,        // ONLINE_CASINO, ONLINE_POKER
        2 => true,              // BOOKMAKING
        _ => false,
    }
}

fn too_long(s: Option<&str>) -> bool {
    // Python's len counts code points; only a string of more bytes than the limit can exceed it.
    s.is_some_and(|s| s.len() > MAX_TEXT && s.chars().count() > MAX_TEXT)
}

fn filled(s: Option<&str>) -> bool {
    s.is_some_and(|s| !s.is_empty())
}

/// Whether `EventValidator.check` passes `ev` (given the operator's licences and the time).
pub fn passes(licences: Option<&HashMap<String, Licence>>, limits: &Limits, player_refs: &Words,
              ev: &Event<'_>, now_us: i64) -> bool {
    let Some(lic) = licences.and_then(|l| l.get(ev.licence_id)) else { return false };
    let t = ev.occurred_at_us;
    if lic.kind != ev.licence_kind || t < lic.valid_from_us || lic.valid_to_us.is_some_and(|to| t >= to) {
        return false;
    }
    if lic.stops.iter().any(|&(from, to)| from <= t && to.is_none_or(|to| t < to)) {
        return false;
    }
    if !channel_allowed(ev.licence_kind, ev.channel) {
        return false;
    }
    let id_field = match CHANNELS[ev.channel as usize] {
        "ESTABLISHMENT" => ev.establishment_id,
        "SITE" => ev.site_id,
        _ => ev.app_id,
    };
    if !filled(id_field) {
        return false;
    }
    if ev.amount <= 0 || ev.amount > limits.max_amount_kopecks || ev.currency != limits.currency {
        return false;
    }
    let (t, now) = (i128::from(t), i128::from(now_us));
    if t > now + i128::from(limits.future_skew_us) || t < now - i128::from(limits.late_window_us) {
        return false;
    }
    if !player_ref::plain(ev.player_ref, player_refs) {
        return false; // the rules one by one, in Python: rare, and it may still pass
    }
    if [ev.operator_ref].into_iter().map(Some)
        .chain([ev.establishment_id, ev.equipment_id, ev.site_id, ev.app_id, ev.game_type,
                ev.round_ref, ev.bet_ref])
        .any(too_long)
    {
        return false;
    }
    let game = matches!(ev.kind, BET | WIN | REFUND);
    if game && !(filled(ev.bet_ref) && filled(ev.game_type)) {
        return false;
    }
    match (ev.kind, ev.tax_withheld_pit, ev.tax_withheld_military) {
        (WIN, Some(pit), Some(mil)) => {
            pit >= 0 && mil >= 0 && i128::from(pit) + i128::from(mil) <= i128::from(ev.amount)
        }
        (WIN, _, _) => false,
        (_, None, None) => true,
        _ => false,
    }
}
