//! The scoring walk on AVX-512: one row through eight trees at once.
//!
//! Each 512-bit vector lane follows a different tree of a group of eight ([`TREES_AT_ONCE`]),
//! so a row's values never need gathering: they sit in four registers (up to
//! [`MAX_FEATURES`] features) and a lane's split feature picks its value with a register
//! permute. Only the split itself (threshold and feature of the lane's slot) is gathered
//! from memory, and at the top three levels, where a lane can only be at one of 1, 2 or 4
//! slots, not even that: the slots' splits are loaded whole and blended by the path so far.
//! A group's splits are interleaved slot by slot, tree by tree (`slot * 8 + lane`), so lane
//! `j`'s split at slot `s` is at index `8s + j`.
//!
//! The lanes add their trees' path lengths in lane sums (tree `t` into lane `t % 8`, trees
//! in order), the order the scalar walks in the parent module use too, so every walk gives
//! every row the same score to the bit (tested there).
//!
//! This is the only `unsafe` in the core: gathers and vector loads take raw pointers, and a
//! function compiled for AVX-512 may only run where the processor has it. Both are kept
//! local: [`VectorForest::build`] returns a forest only after the processor has been
//! checked, and every gather index is masked into its slice's bounds (each group's slices
//! are a power of two long), so even a wrong index could not read outside them.
#![allow(unsafe_code)] // Reason: SIMD gathers and loads (see the module docs); nowhere else.
#![warn(clippy::undocumented_unsafe_blocks)]

use std::arch::x86_64::{
    __m256i, __m512d, __m512i, _CMP_NLT_UQ, _mm256_add_epi32, _mm256_and_si256,
    _mm256_i32gather_epi32, _mm256_loadu_si256, _mm256_mask_add_epi32, _mm256_set1_epi32,
    _mm256_setr_epi32, _mm256_sub_epi32, _mm512_add_pd, _mm512_cmp_pd_mask, _mm512_cvtepu32_epi64,
    _mm512_i32gather_pd, _mm512_loadu_pd, _mm512_mask_blend_epi64, _mm512_mask_blend_pd,
    _mm512_permutex2var_pd, _mm512_set1_epi64, _mm512_setzero_pd, _mm512_storeu_pd,
    _mm512_test_epi64_mask,
};

use super::{CompleteForest, SUM_LANES};

/// Trees one vector walks at once: one per `f64` lane.
pub(super) const TREES_AT_ONCE: usize = 8;
/// Features a row may have on this walk: four registers of eight, picked by permutes.
pub(super) const MAX_FEATURES: usize = 32;
/// Rows walking a group of trees together, so their chains of gathers overlap.
const ROWS_AT_ONCE: usize = 4;

const _: () = assert!(TREES_AT_ONCE == SUM_LANES);

/// A row padded to [`MAX_FEATURES`] values, as the walk loads it.
pub(super) type PaddedRow = [f64; MAX_FEATURES];

/// An axis-split forest's complete trees regrouped for the vector walk.
#[derive(Debug)]
pub(super) struct VectorForest {
    depth: u32,
    /// Whether rows have more than 16 features (then four registers hold a row, not two).
    wide: bool,
    /// Values per group of trees in each array: `8 << depth`, a power of two.
    group_len: usize,
    /// Thresholds, `group_len` per group: slot `s` of lane `j` at `8s + j`.
    thresholds: Vec<f64>,
    /// Split features, laid out as `thresholds`.
    features: Vec<i32>,
    /// Path lengths of the last level's slots, `group_len` per group: slot `l` (counted
    /// from the first last-level slot) of lane `j` at `8l + j`. Lanes past the last tree
    /// hold 0, which leaves their sums unchanged.
    leaves: Vec<f64>,
}

impl VectorForest {
    /// Regroups `complete` (`trees` trees of `dims` features), or `None` when this
    /// processor has no AVX-512, the rows have more than [`MAX_FEATURES`] features or the
    /// trees are shallower than the three levels the walk blends.
    pub(super) fn build(complete: &CompleteForest, trees: usize, dims: usize) -> Option<Self> {
        let available = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2");
        if !available || dims > MAX_FEATURES || complete.depth < 3 {
            return None;
        }
        let depth = complete.depth;
        let inner = (1usize << depth) - 1;
        let group_len = TREES_AT_ONCE << depth;
        let groups = trees.div_ceil(TREES_AT_ONCE);
        let mut forest = VectorForest {
            depth,
            wide: dims > 16,
            group_len,
            thresholds: vec![0.0; groups * group_len],
            features: vec![0; groups * group_len],
            leaves: vec![0.0; groups * group_len],
        };
        for tree in 0..trees {
            let (group, lane) = (tree / TREES_AT_ONCE, tree % TREES_AT_ONCE);
            let from = tree * complete.stride;
            let to = group * group_len + lane;
            for slot in 0..inner {
                forest.thresholds[to + slot * TREES_AT_ONCE] = complete.thresholds[from + slot];
                // Features are below MAX_FEATURES here.
                forest.features[to + slot * TREES_AT_ONCE] = complete.features[from + slot] as i32;
            }
            for leaf in 0..=inner {
                forest.leaves[to + leaf * TREES_AT_ONCE] = complete.leaves[from + leaf];
            }
        }
        Some(forest)
    }

    /// Adds every tree's path length of each row to the row's lane sums.
    pub(super) fn add_path_lengths(&self, rows: &[PaddedRow], sums: &mut [[f64; SUM_LANES]]) {
        // SAFETY: a VectorForest exists only where `build` found AVX-512F, AVX-512VL and
        // AVX2 on this processor.
        unsafe { self.add_all(rows, sums) }
    }

    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn add_all(&self, rows: &[PaddedRow], sums: &mut [[f64; SUM_LANES]]) {
        let rows = &rows[..rows.len().min(sums.len())];
        let whole = rows.len() / ROWS_AT_ONCE * ROWS_AT_ONCE;
        for group in 0..self.thresholds.len() / self.group_len {
            let (rows_whole, rows_rest) = rows.split_at(whole);
            let (sums_whole, sums_rest) = sums.split_at_mut(whole);
            for (rows, sums) in rows_whole
                .chunks_exact(ROWS_AT_ONCE)
                .zip(sums_whole.chunks_exact_mut(ROWS_AT_ONCE))
            {
                if self.wide {
                    self.add_group::<ROWS_AT_ONCE, true>(group, rows, sums);
                } else {
                    self.add_group::<ROWS_AT_ONCE, false>(group, rows, sums);
                }
            }
            for (row, sum) in rows_rest.chunks_exact(1).zip(sums_rest.chunks_exact_mut(1)) {
                if self.wide {
                    self.add_group::<1, true>(group, row, sum);
                } else {
                    self.add_group::<1, false>(group, row, sum);
                }
            }
        }
    }

    /// Walks `R` rows (`rows` and `sums` hold at least `R`) through the eight trees of
    /// `group`; with `WIDE`, rows have more than 16 features.
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn add_group<const R: usize, const WIDE: bool>(
        &self,
        group: usize,
        rows: &[PaddedRow],
        sums: &mut [[f64; SUM_LANES]],
    ) {
        let len = self.group_len;
        let (Some(thresholds), Some(features), Some(leaves)) = (
            self.thresholds.get(group * len..(group + 1) * len),
            self.features.get(group * len..(group + 1) * len),
            self.leaves.get(group * len..(group + 1) * len),
        ) else {
            return;
        };
        let (Some(rows), Some(sums)) = (rows.get(..R), sums.get_mut(..R)) else {
            return;
        };
        // Every index is masked into 0..len: `len` is a power of two.
        let in_bounds = _mm256_set1_epi32(len as i32 - 1);
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let eight = _mm256_set1_epi32(8);
        // From slot s at index 8s + j, a child 2s + 1 + right is at
        // 2(8s + j) + (8 - j) + 8 * right.
        let to_left_child = _mm256_setr_epi32(8, 7, 6, 5, 4, 3, 2, 1);
        let sixteen = _mm512_set1_epi64(16);
        let first_leaf = _mm256_set1_epi32((((1i32) << self.depth) - 1) * 8);
        // The splits of the top three levels' seven slots, whole.
        let threshold_at = |slot: usize| -> __m512d {
            // SAFETY: slot < 7 and len >= 8 << 3 (depth >= 3, checked by `build`), so the
            // eight values from 8 * slot are inside `thresholds`.
            unsafe { _mm512_loadu_pd(thresholds[slot * TREES_AT_ONCE..].as_ptr()) }
        };
        let feature_at = |slot: usize| -> __m512i {
            // SAFETY: as above, for `features`: eight i32 from 8 * slot.
            let f = unsafe { _mm256_loadu_si256(features[slot * TREES_AT_ONCE..].as_ptr().cast()) };
            _mm512_cvtepu32_epi64(f)
        };
        let t: [__m512d; 7] = std::array::from_fn(threshold_at);
        let f: [__m512i; 7] = std::array::from_fn(feature_at);
        // A row's values in registers: 0-7, 8-15 (and 16-23, 24-31 when WIDE).
        let mut values = [[_mm512_setzero_pd(); 4]; R];
        for (v, row) in values.iter_mut().zip(rows) {
            for (part, chunk) in
                v.iter_mut()
                    .zip(row.chunks_exact(8))
                    .take(if WIDE { 4 } else { 2 })
            {
                // SAFETY: `chunk` holds exactly eight f64.
                *part = unsafe { _mm512_loadu_pd(chunk.as_ptr()) };
            }
        }
        let value_of = |v: &[__m512d; 4], feature: __m512i| -> __m512d {
            let low = _mm512_permutex2var_pd(v[0], feature, v[1]);
            if WIDE {
                let high = _mm512_permutex2var_pd(v[2], feature, v[3]);
                _mm512_mask_blend_pd(_mm512_test_epi64_mask(feature, sixteen), low, high)
            } else {
                low
            }
        };
        // Right unless x < threshold: NaN goes right, as in the node walk.
        let right =
            |x: __m512d, threshold: __m512d| _mm512_cmp_pd_mask::<_CMP_NLT_UQ>(x, threshold);
        let mut at: [__m256i; R] = [lanes; R];
        for (v, at) in values.iter().zip(at.iter_mut()) {
            // Level 0: slot 0; level 1: slot 1 + r0; level 2: slot 3 + 2 r0 + r1.
            let r0 = right(value_of(v, f[0]), t[0]);
            let r1 = right(
                value_of(v, _mm512_mask_blend_epi64(r0, f[1], f[2])),
                _mm512_mask_blend_pd(r0, t[1], t[2]),
            );
            let f2 = _mm512_mask_blend_epi64(
                r0,
                _mm512_mask_blend_epi64(r1, f[3], f[4]),
                _mm512_mask_blend_epi64(r1, f[5], f[6]),
            );
            let t2 = _mm512_mask_blend_pd(
                r0,
                _mm512_mask_blend_pd(r1, t[3], t[4]),
                _mm512_mask_blend_pd(r1, t[5], t[6]),
            );
            let r2 = right(value_of(v, f2), t2);
            // Slot 7 + 4 r0 + 2 r1 + r2, at index 8 * slot + j.
            let mut index = _mm256_add_epi32(lanes, _mm256_set1_epi32(56));
            index = _mm256_mask_add_epi32(index, r0, index, _mm256_set1_epi32(32));
            index = _mm256_mask_add_epi32(index, r1, index, _mm256_set1_epi32(16));
            *at = _mm256_mask_add_epi32(index, r2, index, eight);
        }
        for _ in 3..self.depth {
            for (v, at) in values.iter().zip(at.iter_mut()) {
                let index = _mm256_and_si256(*at, in_bounds);
                // SAFETY: every lane of `index` is in 0..len (masked above), and both
                // slices hold `len` values.
                let (threshold, feature) = unsafe {
                    (
                        _mm512_i32gather_pd::<8>(index, thresholds.as_ptr()),
                        _mm256_i32gather_epi32::<4>(features.as_ptr(), index),
                    )
                };
                let goes_right = right(value_of(v, _mm512_cvtepu32_epi64(feature)), threshold);
                let left = _mm256_add_epi32(_mm256_add_epi32(*at, *at), to_left_child);
                *at = _mm256_mask_add_epi32(left, goes_right, left, eight);
            }
        }
        for (sum, at) in sums.iter_mut().zip(at) {
            let index = _mm256_and_si256(_mm256_sub_epi32(at, first_leaf), in_bounds);
            // SAFETY: every lane of `index` is in 0..len (masked), and `leaves` holds len
            // values; `sum` holds eight f64.
            unsafe {
                let leaf = _mm512_i32gather_pd::<8>(index, leaves.as_ptr());
                let total = _mm512_add_pd(_mm512_loadu_pd(sum.as_ptr()), leaf);
                _mm512_storeu_pd(sum.as_mut_ptr(), total);
            }
        }
    }
}
