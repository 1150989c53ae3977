//! Per-miner balances: credited, paid, outstanding.

use std::collections::BTreeMap;

use super::settlement::Settlement;
use crate::ids::PayoutId;

/// One payout id's account. Cumulative sums are `u128` so no number of
/// blocks can overflow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// Everything ever credited, atoms.
    pub credited: u128,
    /// Everything ever paid out, atoms.
    pub paid: u128,
}

impl Account {
    /// Credited but not yet paid.
    pub fn outstanding(&self) -> u128 {
        self.credited - self.paid
    }
}

/// Totals across the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerTotals {
    /// Credited to miners.
    pub credited: u128,
    /// Paid to miners.
    pub paid: u128,
    /// Owed to miners.
    pub outstanding: u128,
    /// Fees earned by the operator.
    pub fees: u128,
    /// Unfilled-window atoms waiting to be added to the next block reward.
    pub carried: u128,
    /// Sum of all settled rewards.
    pub rewards: u128,
}

/// Errors of ledger operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A payment larger than what is owed.
    #[error("payment of {amount} to {id} exceeds its outstanding {outstanding}")]
    Overpayment {
        /// The payout id.
        id: PayoutId,
        /// Requested payment.
        amount: u64,
        /// What was owed.
        outstanding: u128,
    },
    /// A settlement whose parts do not add up to its reward.
    #[error("settlement does not conserve its reward")]
    NotConserved,
}

/// Miner balances with a minimum payout threshold.
///
/// Invariants, checked by [`PayoutLedger::check`]: every account has
/// `credited == paid + outstanding`; the ledger's rewards equal credited +
/// fees + carried-over sink (minus carry already reinvested).
///
/// ```
/// use chiral_pool_core::{ids::PayoutId, payout::*};
/// let mut w = PplnsWindow::new(10);
/// let a = PayoutId::new("a").unwrap();
/// w.add(&a, 10);
/// let mut ledger = PayoutLedger::new(500);
/// ledger.credit(&w.settle(300, RewardCuts::default(), None)).unwrap();
/// assert!(ledger.payable().is_empty()); // 300 < 500: carried forward
/// ledger.credit(&w.settle(300, RewardCuts::default(), None)).unwrap();
/// assert_eq!(ledger.pay_all(), vec![(a.clone(), 600)]);
/// assert_eq!(ledger.account(&a).outstanding(), 0);
/// assert!(ledger.check());
/// ```
#[derive(Debug, Clone, Default)]
pub struct PayoutLedger {
    min_payout: u64,
    accounts: BTreeMap<PayoutId, Account>,
    totals: LedgerTotals,
}

impl PayoutLedger {
    /// A ledger paying balances of at least `min_payout` atoms.
    pub fn new(min_payout: u64) -> Self {
        PayoutLedger {
            min_payout,
            ..Default::default()
        }
    }

    /// Credits a settlement: miners (and finder bonus), fee, and the
    /// unfilled sink, which is carried to the next block (see
    /// [`take_carry`](Self::take_carry)). Rejects non-conserving input.
    pub fn credit(&mut self, settlement: &Settlement) -> Result<(), LedgerError> {
        if !settlement.is_conserved() {
            return Err(LedgerError::NotConserved);
        }
        for (id, atoms) in &settlement.payouts {
            self.credit_one(id, *atoms);
        }
        if let Some(finder) = &settlement.finder {
            self.credit_one(finder, settlement.finder_bonus);
        }
        self.totals.fees += settlement.fee as u128;
        self.totals.carried += settlement.unfilled as u128;
        self.totals.rewards += settlement.reward as u128;
        Ok(())
    }

    fn credit_one(&mut self, id: &PayoutId, atoms: u64) {
        if atoms == 0 {
            return;
        }
        self.accounts.entry(id.clone()).or_default().credited += atoms as u128;
        self.totals.credited += atoms as u128;
    }

    /// The carried-over sink that [`take_carry`](Self::take_carry) would
    /// take now.
    pub fn carried(&self) -> u64 {
        u64::try_from(self.totals.carried).unwrap_or(u64::MAX)
    }

    /// Takes the carried-over sink (at most `u64::MAX`) to add to the next
    /// block's reward.
    pub fn take_carry(&mut self) -> u64 {
        let take = u64::try_from(self.totals.carried).unwrap_or(u64::MAX);
        self.totals.carried -= take as u128;
        // The carried atoms re-enter as part of a later reward.
        self.totals.rewards -= take as u128;
        take
    }

    /// The account of `id` (zero if unknown).
    pub fn account(&self, id: &PayoutId) -> Account {
        self.accounts.get(id).copied().unwrap_or_default()
    }

    /// All accounts, sorted by payout id.
    pub fn accounts(&self) -> impl Iterator<Item = (&PayoutId, &Account)> {
        self.accounts.iter()
    }

    /// Balances at or above the minimum payout, sorted by payout id (each
    /// capped at `u64::MAX` per payment).
    pub fn payable(&self) -> Vec<(PayoutId, u64)> {
        self.accounts
            .iter()
            .filter(|(_, a)| a.outstanding() > 0 && a.outstanding() >= self.min_payout as u128)
            .map(|(id, a)| {
                (
                    id.clone(),
                    u64::try_from(a.outstanding()).unwrap_or(u64::MAX),
                )
            })
            .collect()
    }

    /// Records a payment made to `id`.
    pub fn record_payment(&mut self, id: &PayoutId, amount: u64) -> Result<(), LedgerError> {
        let outstanding = self.account(id).outstanding();
        if amount as u128 > outstanding {
            return Err(LedgerError::Overpayment {
                id: id.clone(),
                amount,
                outstanding,
            });
        }
        if let Some(a) = self.accounts.get_mut(id) {
            a.paid += amount as u128;
            self.totals.paid += amount as u128;
        }
        Ok(())
    }

    /// Pays every payable balance and returns the payments.
    pub fn pay_all(&mut self) -> Vec<(PayoutId, u64)> {
        let payments = self.payable();
        for (id, amount) in &payments {
            // Amounts come from `payable`, so they never exceed the balance.
            let _ = self.record_payment(id, *amount);
        }
        payments
    }

    /// Totals across the ledger.
    pub fn totals(&self) -> LedgerTotals {
        LedgerTotals {
            outstanding: self.totals.credited - self.totals.paid,
            ..self.totals
        }
    }

    /// Checks every bookkeeping invariant.
    pub fn check(&self) -> bool {
        let (credited, paid) = self
            .accounts
            .values()
            .fold((0u128, 0u128), |(c, p), a| (c + a.credited, p + a.paid));
        let t = self.totals();
        credited == t.credited
            && paid == t.paid
            && self.accounts.values().all(|a| a.paid <= a.credited)
            && t.credited == t.paid + t.outstanding
            && t.rewards == t.credited + t.fees + t.carried
    }
}
