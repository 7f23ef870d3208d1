//! The scoring walk on AVX-512: one row through sixteen trees at once.
//!
//! Each 32-bit lane of a 512-bit vector follows a different tree of a group of sixteen
//! ([`TREES_AT_ONCE`]), so a row's values never need gathering: they sit in two registers
//! (up to [`MAX_FEATURES`] features) and a lane's split feature picks its value with one
//! register permute. Only the split itself is read from memory, as one 32-bit word holding
//! both the feature (low five bits) and a lower bound of the threshold. At the top four
//! levels, where a lane can only be at one of 1, 2, 4 or 8 slots, the slots' words are
//! loaded whole and blended by the path so far; below, they are gathered. A group's words
//! are interleaved slot by slot, tree by tree: lane `j`'s split at slot `s` is at `16s + j`.
//!
//! # Comparing in 32 bits, exactly
//!
//! Rows and thresholds are `f64`. The walk compares *order images*: a float rounded down to
//! `f32`, its bits mapped to an `i32` that orders as the floats do ([`order_image`]). A
//! split keeps its threshold's image with the low five bits cleared (`base`, making room
//! for the feature). With `xi` the value's image:
//! - `xi < base`: the value is below the threshold (`x < t`): left;
//! - `xi > base + 31`: the value is above it (`x >= t`): right;
//! - otherwise the two lie within 32 `f32` steps (a relative 2^-18) of each other, and the
//!   lane compares the exact `f64` values, out of line (rare for a continuous feature).
//!
//! So the walk takes every branch the node walk takes (tested, with NaN, infinities, signed
//! zeros and subnormals among the values).
//!
//! The lanes add their trees' path lengths in lane sums (tree `t` into lane `t % 16`, trees
//! in order), the order the scalar walks in the parent module use too, so every walk gives
//! every row the same score to the bit.
//!
//! This is the only `unsafe` in the core: gathers and vector loads take raw pointers, and a
//! function compiled for AVX-512 may only run where the processor has it. Both are kept
//! local: [`VectorForest::build`] returns a forest only after the processor has been
//! checked, and every gather index is masked into its slice's bounds (each group's slices
//! are a power of two long), so even a wrong index could not read outside them.
#![allow(unsafe_code)] // Reason: SIMD gathers and loads (see the module docs); nowhere else.
#![warn(clippy::undocumented_unsafe_blocks)]

use std::arch::x86_64::{
    __m512i, _CMP_UNORD_Q, _MM_FROUND_NO_EXC, _MM_FROUND_TO_NEG_INF, _mm256_and_si256,
    _mm256_castps_si256, _mm256_cmpeq_epi32_mask, _mm256_mask_mov_epi32, _mm256_set1_epi32,
    _mm256_setzero_si256, _mm256_srai_epi32, _mm256_storeu_si256, _mm256_xor_si256,
    _mm512_add_epi32, _mm512_add_pd, _mm512_and_si512, _mm512_andnot_si512, _mm512_castsi512_si256,
    _mm512_cmp_pd_mask, _mm512_cmpgt_epi32_mask, _mm512_cvt_roundpd_ps, _mm512_extracti64x4_epi64,
    _mm512_i32gather_epi32, _mm512_i32gather_pd, _mm512_loadu_pd, _mm512_loadu_si512,
    _mm512_mask_add_epi32, _mm512_mask_blend_epi32, _mm512_or_si512, _mm512_permutex2var_epi32,
    _mm512_set1_epi32, _mm512_setr_epi32, _mm512_storeu_pd, _mm512_storeu_si512, _mm512_sub_epi32,
};

use super::{CompleteForest, SUM_LANES};

/// Trees one vector walks at once: one per 32-bit lane.
pub(super) const TREES_AT_ONCE: usize = 16;
/// Features a row may have on this walk: two registers of sixteen, picked by one permute.
pub(super) const MAX_FEATURES: usize = 32;
/// Levels at the top of each tree whose splits are blended instead of gathered.
const BLENDED_LEVELS: u32 = 4;
/// Rows walking a group of trees together, so their chains of gathers overlap.
const ROWS_AT_ONCE: usize = 4;
/// Bits of a split word that hold the feature.
const FEATURE_BITS: i32 = (MAX_FEATURES - 1) as i32;

const _: () = assert!(TREES_AT_ONCE == SUM_LANES);

/// A row as the walk reads it: values padded to [`MAX_FEATURES`], and their order images.
#[derive(Clone, Copy, Debug)]
pub(super) struct PaddedRow {
    values: [f64; MAX_FEATURES],
    images: [i32; MAX_FEATURES],
}

impl PaddedRow {
    /// A row of at most [`MAX_FEATURES`] values (more are ignored); the walk fills in the
    /// images.
    pub(super) fn new(row: &[f64]) -> Self {
        let mut padded = PaddedRow {
            values: [0.0; MAX_FEATURES],
            images: [0; MAX_FEATURES],
        };
        for (value, &x) in padded.values.iter_mut().zip(row) {
            *value = x;
        }
        padded
    }

    /// Fills in [`order_image`] of every value, eight at a time; NaN takes the largest
    /// image, so it goes right of every split, as in the node walk.
    #[target_feature(enable = "avx512f,avx512vl")]
    fn fill_images(&mut self) {
        let minus_zero = _mm256_set1_epi32(-1);
        for (values, images) in self
            .values
            .chunks_exact(8)
            .zip(self.images.chunks_exact_mut(8))
        {
            // SAFETY: `values` holds eight f64.
            let x = unsafe { _mm512_loadu_pd(values.as_ptr()) };
            let down = _mm512_cvt_roundpd_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(x);
            let bits = _mm256_castps_si256(down);
            let flip = _mm256_and_si256(_mm256_srai_epi32::<31>(bits), _mm256_set1_epi32(i32::MAX));
            let image = _mm256_xor_si256(bits, flip);
            // -0 (image -1) as +0 (image 0); NaN as the largest image.
            let image = _mm256_mask_mov_epi32(
                image,
                _mm256_cmpeq_epi32_mask(image, minus_zero),
                _mm256_setzero_si256(),
            );
            let nan = _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(x, x);
            let image = _mm256_mask_mov_epi32(image, nan, _mm256_set1_epi32(i32::MAX));
            // SAFETY: `images` holds eight i32.
            unsafe { _mm256_storeu_si256(images.as_mut_ptr().cast(), image) };
        }
    }
}

/// An `i32` that orders as the floats do, of `x` rounded down to `f32` (towards negative
/// infinity), with -0 taken as +0 (the two compare equal). For every `f64` `a <= b`,
/// `order_image(a) <= order_image(b)`, and consecutive `f32` have consecutive images.
pub(super) fn order_image(x: f64) -> i32 {
    let near = x as f32;
    let down = if f64::from(near) > x {
        near.next_down()
    } else {
        near
    };
    let down = if down == 0.0 { 0.0 } else { down };
    let bits = down.to_bits() as i32;
    // Negative floats order backwards by their bits: flip all but the sign.
    bits ^ ((bits >> 31) & i32::MAX)
}

/// An axis-split forest's complete trees regrouped for the vector walk.
#[derive(Debug)]
pub(super) struct VectorForest {
    depth: u32,
    /// Values per group of trees in each array: `16 << depth`, a power of two.
    group_len: usize,
    /// Split words, `group_len` per group (slot `s` of lane `j` at `16s + j`): the
    /// threshold's order image with its low five bits cleared, or'd with the feature.
    splits: Vec<i32>,
    /// The exact thresholds, laid out as `splits`, for values close to one.
    thresholds: Vec<f64>,
    /// Path lengths of the last level's slots, `group_len` per group: slot `l` (counted
    /// from the first last-level slot) of lane `j` at `16l + j`. Lanes past the last tree
    /// hold 0, which leaves their sums unchanged.
    leaves: Vec<f64>,
}

impl VectorForest {
    /// Regroups `complete` (`trees` trees of `dims` features), or `None` when this
    /// processor has no AVX-512 (F and VL), the rows have more than [`MAX_FEATURES`]
    /// features or the trees are shallower than the levels the walk blends.
    pub(super) fn build(complete: &CompleteForest, trees: usize, dims: usize) -> Option<Self> {
        let available = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl");
        if !available || dims > MAX_FEATURES || complete.depth < BLENDED_LEVELS {
            return None;
        }
        let depth = complete.depth;
        let inner = (1usize << depth) - 1;
        let group_len = TREES_AT_ONCE << depth;
        let groups = trees.div_ceil(TREES_AT_ONCE);
        let mut forest = VectorForest {
            depth,
            group_len,
            splits: vec![0; groups * group_len],
            thresholds: vec![0.0; groups * group_len],
            leaves: vec![0.0; groups * group_len],
        };
        for tree in 0..trees {
            let (group, lane) = (tree / TREES_AT_ONCE, tree % TREES_AT_ONCE);
            let from = tree * complete.stride;
            let to = group * group_len + lane;
            for slot in 0..inner {
                let threshold = complete.thresholds[from + slot];
                // Features are below MAX_FEATURES here.
                let feature = complete.features[from + slot] as i32 & FEATURE_BITS;
                let at = to + slot * TREES_AT_ONCE;
                forest.splits[at] = (order_image(threshold) & !FEATURE_BITS) | feature;
                forest.thresholds[at] = threshold;
            }
            for leaf in 0..=inner {
                forest.leaves[to + leaf * TREES_AT_ONCE] = complete.leaves[from + leaf];
            }
        }
        Some(forest)
    }

    /// Adds every tree's path length of each row to the row's lane sums.
    pub(super) fn add_path_lengths(&self, rows: &mut [PaddedRow], sums: &mut [[f64; SUM_LANES]]) {
        // SAFETY: a VectorForest exists only where `build` found AVX-512F and AVX-512VL on
        // this processor.
        unsafe { self.add_all(rows, sums) }
    }

    #[target_feature(enable = "avx512f,avx512vl")]
    fn add_all(&self, rows: &mut [PaddedRow], sums: &mut [[f64; SUM_LANES]]) {
        for row in rows.iter_mut() {
            row.fill_images();
        }
        let rows = &rows[..rows.len().min(sums.len())];
        let whole = rows.len() / ROWS_AT_ONCE * ROWS_AT_ONCE;
        let (rows_whole, rows_rest) = rows.split_at(whole);
        let (sums_whole, sums_rest) = sums.split_at_mut(whole);
        for group in 0..self.splits.len() / self.group_len {
            for (rows, sums) in rows_whole
                .chunks_exact(ROWS_AT_ONCE)
                .zip(sums_whole.chunks_exact_mut(ROWS_AT_ONCE))
            {
                self.add_group::<ROWS_AT_ONCE>(group, rows, sums);
            }
            for (row, sum) in rows_rest.chunks_exact(1).zip(sums_rest.chunks_exact_mut(1)) {
                self.add_group::<1>(group, row, sum);
            }
        }
    }

    /// Walks `R` rows (`rows` and `sums` hold at least `R`) through the sixteen trees of
    /// `group`.
    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    fn add_group<const R: usize>(
        &self,
        group: usize,
        rows: &[PaddedRow],
        sums: &mut [[f64; SUM_LANES]],
    ) {
        let len = self.group_len;
        let (Some(splits), Some(thresholds), Some(leaves)) = (
            self.splits.get(group * len..(group + 1) * len),
            self.thresholds.get(group * len..(group + 1) * len),
            self.leaves.get(group * len..(group + 1) * len),
        ) else {
            return;
        };
        let (Some(rows), Some(sums)) = (rows.get(..R), sums.get_mut(..R)) else {
            return;
        };
        // Every index is masked into 0..len: `len` is a power of two.
        let in_bounds = _mm512_set1_epi32(len as i32 - 1);
        let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let sixteen = _mm512_set1_epi32(16);
        // From slot s at index 16s + j, a child 2s + 1 + right is at
        // 2(16s + j) + (16 - j) + 16 * right.
        let to_left_child = _mm512_sub_epi32(sixteen, lanes);
        let feature_bits = _mm512_set1_epi32(FEATURE_BITS);
        let first_leaf = _mm512_set1_epi32(((1i32 << self.depth) - 1) * 16);
        // The split words of the blended levels' fifteen slots, whole.
        let split_at = |slot: usize| -> __m512i {
            // SAFETY: slot < 15 and len >= 16 << 4 (depth >= BLENDED_LEVELS, checked by
            // `build`), so the sixteen words from 16 * slot are inside `splits`.
            unsafe { _mm512_loadu_si512(splits[slot * TREES_AT_ONCE..].as_ptr().cast()) }
        };
        let images: [[__m512i; 2]; R] = std::array::from_fn(|r| {
            let row = &rows[r].images;
            // SAFETY: `images` holds 32 i32: two vectors of sixteen.
            unsafe {
                [
                    _mm512_loadu_si512(row.as_ptr().cast()),
                    _mm512_loadu_si512(row[16..].as_ptr().cast()),
                ]
            }
        });
        // Whether each lane goes right at a split: images first, exact values when close.
        let goes_right = |row: &PaddedRow, image: &[__m512i; 2], split: __m512i, at: __m512i| {
            let feature = _mm512_and_si512(split, feature_bits);
            let x = _mm512_permutex2var_epi32(image[0], feature, image[1]);
            let right = _mm512_cmpgt_epi32_mask(x, _mm512_or_si512(split, feature_bits));
            let base = _mm512_andnot_si512(feature_bits, split);
            let left = _mm512_cmpgt_epi32_mask(base, x);
            let close = !(right | left);
            if close == 0 {
                right
            } else {
                exact_right(row, thresholds, split, at, close, right)
            }
        };
        // The index of a lane's child, from its index and whether it goes right.
        let child = |at: __m512i, right: u16| {
            let left = _mm512_add_epi32(_mm512_add_epi32(at, at), to_left_child);
            _mm512_mask_add_epi32(left, right, left, sixteen)
        };
        let mut at = [lanes; R];
        for ((row, image), at) in rows.iter().zip(&images).zip(at.iter_mut()) {
            // Level 0: slot 0; level 1: 1 + r0; level 2: 3 + 2 r0 + r1;
            // level 3: 7 + 4 r0 + 2 r1 + r2.
            let pick =
                |right, a: usize| _mm512_mask_blend_epi32(right, split_at(a), split_at(a + 1));
            let at0 = lanes;
            let r0 = goes_right(row, image, split_at(0), at0);
            let at1 = child(at0, r0);
            let r1 = goes_right(row, image, pick(r0, 1), at1);
            let at2 = child(at1, r1);
            let s2 = _mm512_mask_blend_epi32(r0, pick(r1, 3), pick(r1, 5));
            let r2 = goes_right(row, image, s2, at2);
            let at3 = child(at2, r2);
            let s3 = _mm512_mask_blend_epi32(
                r0,
                _mm512_mask_blend_epi32(r1, pick(r2, 7), pick(r2, 9)),
                _mm512_mask_blend_epi32(r1, pick(r2, 11), pick(r2, 13)),
            );
            let r3 = goes_right(row, image, s3, at3);
            *at = child(at3, r3);
        }
        for _ in BLENDED_LEVELS..self.depth {
            for ((row, image), at) in rows.iter().zip(&images).zip(at.iter_mut()) {
                let index = _mm512_and_si512(*at, in_bounds);
                // SAFETY: every lane of `index` is in 0..len (masked above), and `splits`
                // holds `len` words.
                let split = unsafe { _mm512_i32gather_epi32::<4>(index, splits.as_ptr()) };
                *at = child(index, goes_right(row, image, split, index));
            }
        }
        for (sum, at) in sums.iter_mut().zip(at) {
            let index = _mm512_and_si512(_mm512_sub_epi32(at, first_leaf), in_bounds);
            let (low, high) = (
                _mm512_castsi512_si256(index),
                _mm512_extracti64x4_epi64::<1>(index),
            );
            // SAFETY: every lane of `index` is in 0..len (masked), and `leaves` holds len
            // values; `sum` holds sixteen f64.
            unsafe {
                let low = _mm512_add_pd(
                    _mm512_loadu_pd(sum.as_ptr()),
                    _mm512_i32gather_pd::<8>(low, leaves.as_ptr()),
                );
                let high = _mm512_add_pd(
                    _mm512_loadu_pd(sum[8..].as_ptr()),
                    _mm512_i32gather_pd::<8>(high, leaves.as_ptr()),
                );
                _mm512_storeu_pd(sum.as_mut_ptr(), low);
                _mm512_storeu_pd(sum[8..].as_mut_ptr(), high);
            }
        }
    }
}

/// `right` with the lanes in `close` decided on the exact values: the row's value of the
/// lane's feature against the threshold at the lane's index `at` (masked into `thresholds`).
#[target_feature(enable = "avx512f,avx512vl")]
#[inline(never)]
#[cold]
fn exact_right(
    row: &PaddedRow,
    thresholds: &[f64],
    split: __m512i,
    at: __m512i,
    close: u16,
    right: u16,
) -> u16 {
    let mut splits = [0i32; TREES_AT_ONCE];
    let mut index = [0i32; TREES_AT_ONCE];
    // SAFETY: both arrays hold sixteen i32.
    unsafe {
        _mm512_storeu_si512(splits.as_mut_ptr().cast(), split);
        _mm512_storeu_si512(index.as_mut_ptr().cast(), at);
    }
    let mut right = right & !close;
    for lane in 0..TREES_AT_ONCE {
        if close & (1 << lane) == 0 {
            continue;
        }
        let x = row.values[(splits[lane] & FEATURE_BITS) as usize];
        let threshold = thresholds[index[lane] as usize & (thresholds.len() - 1)];
        if x.partial_cmp(&threshold) != Some(std::cmp::Ordering::Less) {
            right |= 1 << lane;
        }
    }
    right
}

#[cfg(test)]
mod tests {
    use super::{PaddedRow, order_image};

    proptest::proptest! {
        /// The walk's three-way decision rests on this: images order as the values do.
        #[test]
        fn order_images_order_as_the_values(
            a in proptest::num::f64::ANY,
            b in proptest::num::f64::ANY,
        ) {
            proptest::prop_assume!(!a.is_nan() && !b.is_nan());
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            proptest::prop_assert!(order_image(low) <= order_image(high));
        }

        #[test]
        fn consecutive_f32_have_consecutive_images(x in proptest::num::f32::NORMAL) {
            let up = x.next_up();
            let step = if x == 0.0 || up == 0.0 { 0 } else { 1 };
            proptest::prop_assert_eq!(
                order_image(f64::from(up)) - order_image(f64::from(x)),
                step
            );
        }
    }

    #[test]
    fn the_walk_fills_in_the_same_images() {
        if !(std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl"))
        {
            eprintln!("no AVX-512 here: the vector images are not tested");
            return;
        }
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            1e-300,
            -1e-300,
            5e-324,
            -5e-324,
            1e-45,
            -1e-45,
            f64::from(f32::MAX),
            f64::from(f32::MIN),
            f64::from(f32::MAX) * 1.5,
            0.1,
            -0.1,
            16_777_217.0,
            -16_777_217.0,
            3.4e38,
            -3.5e38,
            1.0 / 3.0,
            -2.0 / 3.0,
            123.456,
            -7.0e-40,
            7.0e-40,
            2.0f64.powi(-149),
            -(2.0f64.powi(-150)),
        ];
        let mut row = PaddedRow::new(&specials);
        // SAFETY: AVX-512F and VL are present (checked above).
        unsafe { row.fill_images() };
        for (&x, &image) in specials.iter().zip(&row.images) {
            let expected = if x.is_nan() { i32::MAX } else { order_image(x) };
            assert_eq!(image, expected, "{x:e}");
        }
    }

    #[test]
    fn images_of_edges() {
        assert_eq!(order_image(-0.0), order_image(0.0));
        assert!(order_image(f64::MAX) < order_image(f64::INFINITY));
        assert_eq!(order_image(f64::MAX), order_image(f64::from(f32::MAX)));
        // Below -f32::MAX, rounding down reaches -inf.
        assert_eq!(order_image(f64::NEG_INFINITY), order_image(f64::MIN));
        assert!(order_image(f64::NEG_INFINITY) < order_image(f64::from(f32::MIN)));
        assert!(order_image(-1e-300) < order_image(0.0));
        assert_eq!(order_image(1e-300), order_image(0.0));
    }
}
