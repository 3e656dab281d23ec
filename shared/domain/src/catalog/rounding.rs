//! Integer rounding for money: basis points with banker's rounding, and exact allocation of an
//! amount over lines. Every computation is done in `i128`, where `i64 × u32` cannot overflow, and
//! only the final result is range-checked, so no intermediate step can wrap.

use crate::Error;
use crate::money::MAX_AMOUNT;

/// One hundred percent, in basis points.
pub const BPS_SCALE: u32 = 10_000;

fn out_of_range() -> Error {
    Error::bad_request("amount is out of range")
}

/// `amount × bps / 10_000`, rounded half to even (banker's rounding): an exact half goes to the
/// even neighbour (2.5 → 2, 3.5 → 4, −2.5 → −2). Half-even is unbiased, so rounding many lines
/// does not drift the sum up or down the way half-up does.
///
/// The rounding is symmetric: `mul_bps_half_even(-a, b) == -mul_bps_half_even(a, b)`.
/// Fails with a 400 "amount is out of range" when the result's magnitude exceeds
/// [`MAX_AMOUNT`].
pub fn mul_bps_half_even(amount: i64, bps: u32) -> Result<i64, Error> {
    let product = i128::from(amount) * i128::from(bps);
    let scale = i128::from(BPS_SCALE);
    // Round the magnitude and put the sign back: that is what makes negatives symmetric.
    let magnitude = product.abs();
    let mut quotient = magnitude / scale;
    let remainder = magnitude % scale;
    let twice = remainder * 2;
    if twice > scale || (twice == scale && quotient % 2 == 1) {
        quotient += 1;
    }
    let rounded = if product < 0 { -quotient } else { quotient };
    if rounded.abs() > i128::from(MAX_AMOUNT) {
        return Err(out_of_range());
    }
    i64::try_from(rounded).map_err(|_| out_of_range())
}

/// Splits a non-negative `total` over lines in proportion to non-negative `weights`, so that
/// the parts sum to exactly `total` (largest-remainder method).
///
/// Each line first gets the floor of its exact share `total × weight / Σweights`; the minor
/// units left over (fewer than the number of lines) go one each to the lines with the largest
/// remainders, the earlier line winning a tie. So every part is within one minor unit of its
/// exact share, and a line of weight zero gets nothing (unless every weight is zero: then the
/// total is split as evenly as possible, earlier lines taking the odd units).
///
/// An empty `weights` is fine for a zero total and a 400 otherwise (nowhere to put it).
pub fn allocate(total: i64, weights: &[i64]) -> Result<Vec<i64>, Error> {
    if total < 0 || weights.iter().any(|w| *w < 0) {
        return Err(Error::bad_request("amount must not be negative"));
    }
    if weights.is_empty() {
        return if total == 0 { Ok(Vec::new()) } else { Err(Error::bad_request("there are no lines to allocate to")) };
    }
    let mut weight_sum: i128 = 0;
    for w in weights {
        weight_sum = weight_sum.checked_add(i128::from(*w)).ok_or_else(out_of_range)?;
    }
    // All weights zero: nothing to be proportional to, so weigh every line the same.
    let even = weight_sum == 0;
    let weight_of = |w: i64| if even { 1 } else { i128::from(w) };
    let divisor = if even { i128::try_from(weights.len()).map_err(|_| out_of_range())? } else { weight_sum };

    let total_wide = i128::from(total);
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (index, w) in weights.iter().enumerate() {
        // total and weight are both below 2^63, so the product fits in i128 with room to spare.
        let exact = total_wide * weight_of(*w);
        let floor = exact / divisor;
        parts.push(floor);
        remainders.push((exact % divisor, index));
        given += floor;
    }
    // Σ floor ≤ total and Σ remainder < lines × divisor, so fewer than `lines` units are left.
    let left = usize::try_from(total_wide - given).map_err(|_| out_of_range())?;
    // Largest remainder first; the sort is stable on the index, so ties favour earlier lines.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, index) in remainders.iter().take(left) {
        if let Some(part) = parts.get_mut(index) {
            *part += 1;
        }
    }
    parts.into_iter().map(|p| i64::try_from(p).map_err(|_| out_of_range())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_even_rounds_exact_halves_to_the_even_neighbour() {
        // 25 × 1000 bps = 2.5 → 2; 35 × 1000 = 3.5 → 4; 15 → 1.5 → 2.
        assert_eq!(mul_bps_half_even(25, 1_000).unwrap(), 2);
        assert_eq!(mul_bps_half_even(35, 1_000).unwrap(), 4);
        assert_eq!(mul_bps_half_even(15, 1_000).unwrap(), 2);
        // Not a half: ordinary rounding.
        assert_eq!(mul_bps_half_even(26, 1_000).unwrap(), 3);
        assert_eq!(mul_bps_half_even(24, 1_000).unwrap(), 2);
        assert_eq!(mul_bps_half_even(1, 4_999).unwrap(), 0);
        assert_eq!(mul_bps_half_even(1, 5_001).unwrap(), 1);
        assert_eq!(mul_bps_half_even(1, 5_000).unwrap(), 0);
        assert_eq!(mul_bps_half_even(3, 5_000).unwrap(), 2);
    }

    #[test]
    fn half_even_is_symmetric_for_negatives() {
        assert_eq!(mul_bps_half_even(-25, 1_000).unwrap(), -2);
        assert_eq!(mul_bps_half_even(-35, 1_000).unwrap(), -4);
        assert_eq!(mul_bps_half_even(-26, 1_000).unwrap(), -3);
        assert_eq!(mul_bps_half_even(0, 1_000).unwrap(), 0);
        assert_eq!(mul_bps_half_even(-7, 0).unwrap(), 0);
    }

    #[test]
    fn whole_percentages_are_exact() {
        assert_eq!(mul_bps_half_even(129_900, 10_000).unwrap(), 129_900);
        assert_eq!(mul_bps_half_even(129_900, 1_800).unwrap(), 23_382);
        assert_eq!(mul_bps_half_even(MAX_AMOUNT, 10_000).unwrap(), MAX_AMOUNT);
    }

    #[test]
    fn out_of_range_results_are_400_not_panics() {
        let err = mul_bps_half_even(MAX_AMOUNT, 10_001).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.message, "amount is out of range");
        assert!(mul_bps_half_even(i64::MAX, u32::MAX).is_err());
        assert!(mul_bps_half_even(i64::MIN, u32::MAX).is_err());
        assert!(mul_bps_half_even(-MAX_AMOUNT, 20_000).is_err());
    }

    #[test]
    fn allocate_is_proportional_and_exact() {
        assert_eq!(allocate(100, &[1, 1, 1]).unwrap(), vec![34, 33, 33]);
        assert_eq!(allocate(10, &[300, 700]).unwrap(), vec![3, 7]);
        assert_eq!(allocate(1, &[1, 1]).unwrap(), vec![1, 0]);
        // Exact shares .5 / .5 / 1 / 1: one unit is left, and the tie between the halves goes to the
        // earlier line.
        assert_eq!(allocate(3, &[1, 1, 2, 2]).unwrap(), vec![1, 0, 1, 1]);
        assert_eq!(allocate(5, &[0, 10, 0]).unwrap(), vec![0, 5, 0]);
        assert_eq!(allocate(0, &[5, 5]).unwrap(), vec![0, 0]);
    }

    #[test]
    fn allocate_with_all_zero_weights_splits_evenly() {
        assert_eq!(allocate(5, &[0, 0, 0]).unwrap(), vec![2, 2, 1]);
        assert_eq!(allocate(0, &[0]).unwrap(), vec![0]);
    }

    #[test]
    fn allocate_refuses_what_it_cannot_do() {
        assert!(allocate(-1, &[1]).is_err());
        assert!(allocate(1, &[1, -1]).is_err());
        assert!(allocate(1, &[]).is_err());
        assert_eq!(allocate(0, &[]).unwrap(), Vec::<i64>::new());
        assert_eq!(allocate(i64::MAX, &[i64::MAX, i64::MAX]).unwrap(), vec![i64::MAX / 2 + 1, i64::MAX / 2]);
    }
}
