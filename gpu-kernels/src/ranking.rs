//! The routers' ordering rules, shared by every warp-level selection of the gate (experts and
//! groups alike) and unit-tested on the CPU: a larger key wins and equal keys go to the lower
//! index, and a group of the grouped router scores the sum of its two largest keys, a key
//! present twice counting twice (`flashmoe::reference` defines both).

/// Whether candidate (`key`, `index`) outranks (`than`, `than_index`): a larger key, or an equal
/// key with a lower index. A NaN key never outranks (routing faults on non-finite logits first).
#[inline(always)]
pub fn outranks(key: f32, index: u32, than: f32, than_index: u32) -> bool {
    key > than || (key == than && index < than_index)
}

/// The two largest keys of a multiset (`first >= second`, -inf where there are fewer than two).
/// Warps merge lane-local pairs in a butterfly: [`TopTwo::merge`] is commutative and
/// associative on the values, so every lane ends with the same pair whatever the merge order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopTwo {
    pub first: f32,
    pub second: f32,
}

impl TopTwo {
    /// No key yet.
    pub const EMPTY: TopTwo = TopTwo { first: f32::NEG_INFINITY, second: f32::NEG_INFINITY };

    /// The pair with `key` added.
    #[inline(always)]
    pub fn insert(self, key: f32) -> TopTwo {
        if key > self.first {
            TopTwo { first: key, second: self.first }
        } else if key > self.second {
            TopTwo { first: self.first, second: key }
        } else {
            self
        }
    }

    /// The two largest keys of both multisets.
    #[inline(always)]
    pub fn merge(self, other: TopTwo) -> TopTwo {
        let (first, runner_up) = if other.first > self.first { (other.first, self.first) } else { (self.first, other.first) };
        let seconds = if other.second > self.second { other.second } else { self.second };
        TopTwo { first, second: if seconds > runner_up { seconds } else { runner_up } }
    }

    /// A group's score: its largest key plus its second largest.
    #[inline(always)]
    pub fn sum(self) -> f32 {
        self.first + self.second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn larger_keys_win_and_ties_go_to_the_lower_index() {
        assert!(outranks(2.0, 7, 1.0, 0));
        assert!(!outranks(1.0, 0, 2.0, 7));
        assert!(outranks(1.5, 3, 1.5, 4));
        assert!(!outranks(1.5, 4, 1.5, 3));
        assert!(!outranks(1.5, 3, 1.5, 3));
        assert!(outranks(f32::NEG_INFINITY, 0, f32::NEG_INFINITY, 1));
        assert!(!outranks(f32::NAN, 0, 1.0, 1) && !outranks(f32::NAN, 0, f32::NAN, 1));
    }

    /// Every way of splitting a multiset over lanes and merging the lanes' pairs gives its two
    /// largest keys (the sorted list's first two), duplicates and -inf included.
    #[test]
    fn top_two_of_any_split_is_the_two_largest() {
        let cases: [&[f32]; 6] = [
            &[0.25, 0.75, 0.5],
            &[0.5, 0.5, 0.1],
            &[-1.0, -3.0],
            &[0.9, f32::NEG_INFINITY, 0.1, 0.9, 0.3],
            &[7.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        ];
        for keys in cases {
            let mut sorted = [f32::NEG_INFINITY; 8];
            sorted[..keys.len()].copy_from_slice(keys);
            sorted.sort_unstable_by(|a, b| b.total_cmp(a));
            let want = TopTwo { first: sorted[0], second: sorted[1] };
            assert_eq!(keys.iter().fold(TopTwo::EMPTY, |t, &k| t.insert(k)), want, "{keys:?}");
            // Lane l takes keys l, l + lanes, ...; the lanes' pairs (8, the unused ones empty)
            // merge in a butterfly.
            for lanes in 1..=keys.len() {
                let mut pairs = [TopTwo::EMPTY; 8];
                for (l, pair) in pairs.iter_mut().enumerate().take(lanes) {
                    *pair = keys.iter().skip(l).step_by(lanes).fold(TopTwo::EMPTY, |t, &k| t.insert(k));
                }
                let mut d = 4;
                while d > 0 {
                    let before = pairs;
                    for (l, pair) in pairs.iter_mut().enumerate() {
                        *pair = before[l].merge(before[l ^ d]);
                    }
                    d /= 2;
                }
                assert!(pairs.iter().all(|&p| p == want), "{keys:?} over {lanes} lanes: {pairs:?}");
            }
        }
        assert_eq!(TopTwo { first: 0.5, second: 0.25 }.sum(), 0.75);
        assert_eq!(TopTwo::EMPTY.insert(3.0).insert(3.0).sum(), 6.0);
    }
}
