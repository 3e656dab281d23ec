//! What the requests a store sent cost in DynamoDB's units, computed by DynamoDB's rounding
//! rules from the sizes of the items read and written. On only when asked
//! ([`crate::DynamoStore::recording_usage`]): tests and the cost report turn it on, a Lambda
//! never does.
//!
//! The rules (DynamoDB Developer Guide, "Read/write capacity mode" and "Item sizes"):
//! - a strongly consistent read of an item costs one read unit per 4 KB, rounded up, at least
//!   one; an eventually consistent one (every GSI query) half that; a `BatchGetItem` rounds
//!   each item on its own; a `Query` rounds the sum of the items one page read;
//! - a write costs one write unit per 1 KB of the item, rounded up, at least one;
//! - inside a transaction, reads and writes cost twice as much (`ConditionCheck` is counted as
//!   a transactional read of the checked item — assumed: one third-party measurement found it
//!   billed as a write; only category edits use it);
//! - a write refused by its condition still costs the table write on the item it found;
//! - an item's size is the sum of its attribute names' and values' sizes: strings and binary
//!   by their bytes, numbers about one byte per two significant digits plus one, booleans and
//!   nulls one byte, lists and maps three bytes plus one per element.

use std::collections::HashMap;
use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;

const READ_UNIT_BYTES: u64 = 4 * 1024;
const WRITE_UNIT_BYTES: u64 = 1024;

/// Totals since the store was made; subtract two snapshots for what one operation cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Requests sent (each page of a query, each attempt of a transaction).
    pub calls: u64,
    /// Read units in halves (an eventually consistent 4 KB read is one half).
    pub read_half_units: u64,
    pub write_units: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

impl Usage {
    /// Read units as DynamoDB bills them (`1.5`, `2`).
    pub fn read_units(&self) -> String {
        if self.read_half_units.is_multiple_of(2) {
            (self.read_half_units / 2).to_string()
        } else {
            format!("{}.5", self.read_half_units / 2)
        }
    }
}

impl Sub for Usage {
    type Output = Usage;
    fn sub(self, before: Usage) -> Usage {
        Usage {
            calls: self.calls - before.calls,
            read_half_units: self.read_half_units - before.read_half_units,
            write_units: self.write_units - before.write_units,
            bytes_read: self.bytes_read - before.bytes_read,
            bytes_written: self.bytes_written - before.bytes_written,
        }
    }
}

impl Add for Usage {
    type Output = Usage;
    fn add(self, more: Usage) -> Usage {
        Usage {
            calls: self.calls + more.calls,
            read_half_units: self.read_half_units + more.read_half_units,
            write_units: self.write_units + more.write_units,
            bytes_read: self.bytes_read + more.bytes_read,
            bytes_written: self.bytes_written + more.bytes_written,
        }
    }
}

/// How a read is billed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    Strong,
    Eventual,
    Transactional,
}

impl ReadKind {
    /// Half units for `bytes` read in one rounding step.
    pub fn half_units(self, bytes: u64) -> u64 {
        let units = bytes.div_ceil(READ_UNIT_BYTES).max(1);
        match self {
            ReadKind::Strong => 2 * units,
            ReadKind::Eventual => units,
            ReadKind::Transactional => 4 * units,
        }
    }
}

/// Write units for an item of `bytes` (twice that inside a transaction).
pub fn write_units(bytes: u64, transactional: bool) -> u64 {
    let units = bytes.div_ceil(WRITE_UNIT_BYTES).max(1);
    if transactional { 2 * units } else { units }
}

/// The meter a store and its clones share.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    calls: AtomicU64,
    read_half_units: AtomicU64,
    write_units: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

impl Meter {
    pub(crate) fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, kind: ReadKind, bytes: u64) {
        self.read_half_units.fetch_add(kind.half_units(bytes), Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn write(&self, bytes: u64, transactional: bool) {
        self.write_units.fetch_add(write_units(bytes, transactional), Ordering::Relaxed);
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Usage {
        Usage {
            calls: self.calls.load(Ordering::Relaxed),
            read_half_units: self.read_half_units.load(Ordering::Relaxed),
            write_units: self.write_units.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
        }
    }
}

/// An item's size as DynamoDB counts it.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(all) => all.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(all) => all.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(all) => all.iter().map(|b| b.as_ref().len() as u64).sum(),
        AttributeValue::L(all) => 3 + all.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        AttributeValue::M(all) => 3 + all.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum::<u64>(),
        _ => 1,
    }
}

/// About one byte per two significant digits, plus one.
fn number_size(n: &str) -> u64 {
    let digits = n.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_round_up_to_four_kilobytes_and_writes_to_one() {
        assert_eq!(ReadKind::Strong.half_units(1), 2);
        assert_eq!(ReadKind::Strong.half_units(4096), 2);
        assert_eq!(ReadKind::Strong.half_units(4097), 4);
        assert_eq!(ReadKind::Eventual.half_units(4097), 2);
        assert_eq!(ReadKind::Transactional.half_units(100), 4);
        assert_eq!(write_units(0, false), 1);
        assert_eq!(write_units(1024, false), 1);
        assert_eq!(write_units(1025, false), 2);
        assert_eq!(write_units(1025, true), 4);
    }

    #[test]
    fn an_items_size_counts_names_and_values() {
        let item = HashMap::from([
            ("PK".to_owned(), AttributeValue::S("USER#01".to_owned())),
            ("n".to_owned(), AttributeValue::N("12345".to_owned())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
            ("m".to_owned(), AttributeValue::M(HashMap::from([("a".to_owned(), AttributeValue::S("xy".to_owned()))]))),
        ]);
        // PK + "USER#01" = 9; n + 4 (5 digits) = 5; ok + 1 = 3; m + 3 + (1 + "a" + "xy") = 8.
        assert_eq!(item_size(&item), 9 + 5 + 3 + 8);
    }

    #[test]
    fn snapshots_subtract_to_one_operations_cost() {
        let meter = Meter::default();
        meter.call();
        let before = meter.snapshot();
        meter.call();
        meter.read(ReadKind::Eventual, 10);
        meter.write(2000, true);
        let cost = meter.snapshot() - before;
        assert_eq!((cost.calls, cost.read_units(), cost.write_units, cost.bytes_written), (1, "0.5".into(), 4, 2000));
    }
}
