//! Isolation Forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008), with the Extended
//! Isolation Forest's hyperplane splits as an option (Hariri, Carrasco Kind and Brunner,
//! IEEE TKDE 2021).
//!
//! Anomalies are few and different, so random splits isolate them in fewer steps. A forest
//! of `trees` isolation trees, each grown on a sub-sample of `subsample` rows (ψ, default
//! 256) to a depth limit of ⌈log₂ ψ⌉, scores a point by its mean path length E[h(x)]:
//! `s(x) = 2^(−E[h(x)] / c(ψ))`, where `c(n) = 2H(n−1) − 2(n−1)/n` is the mean path length of
//! an unsuccessful binary-search-tree lookup and H the harmonic number. Scores near 1 are
//! anomalies, around 0.5 or below are normal.
//!
//! Trees live in one flat node array (cache-friendly scoring). Each tree draws from its own
//! RNG seeded from `(seed, tree index)`, so a fit is reproducible and does not depend on
//! how many threads built it. Fitting and batch scoring use all cores.

use ndarray::{ArrayView1, ArrayView2};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

#[cfg(target_arch = "x86_64")]
mod avx512;
/// Elsewhere there is no vector walk: the scalar walks score every forest.
#[cfg(not(target_arch = "x86_64"))]
mod avx512 {
    use super::{CompleteForest, SUM_LANES};
    pub(super) struct PaddedRow;
    impl PaddedRow {
        pub(super) fn new(_: &[f64]) -> Self {
            PaddedRow
        }
    }
    #[derive(Debug)]
    pub(super) struct VectorForest;
    impl VectorForest {
        pub(super) fn build(_: &CompleteForest, _: usize, _: usize) -> Option<Self> {
            None
        }
        pub(super) fn add_path_lengths(&self, _: &mut [PaddedRow], _: &mut [[f64; SUM_LANES]]) {}
    }
}

/// Euler–Mascheroni constant, for the harmonic-number approximation.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Settings of a forest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ForestParams {
    /// Trees (t). Default 100, the paper's choice.
    pub trees: usize,
    /// Sub-sample size per tree (ψ). Default 256, the paper's choice.
    pub subsample: usize,
    /// RNG seed. Default 0.
    pub seed: u64,
    /// Split on random hyperplanes (Extended Isolation Forest) instead of one feature at a
    /// time. Default false.
    pub extended: bool,
    /// Threads for fitting and batch scoring; 0 = one per core. Default 0. Results do not
    /// depend on it.
    pub threads: usize,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 100,
            subsample: 256,
            seed: 0,
            extended: false,
            threads: 0,
        }
    }
}

/// Why a model cannot be fitted or used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    /// Too few rows to fit.
    #[error("not enough data to fit: need at least {needed} rows, got {got}")]
    InsufficientData {
        /// Rows needed.
        needed: usize,
        /// Rows given.
        got: usize,
    },
    /// A row has the wrong number of features.
    #[error("expected {expected} features, got {got}")]
    DimensionMismatch {
        /// Features the model was fitted on.
        expected: usize,
        /// Features given.
        got: usize,
    },
    /// The parameters cannot work.
    #[error("invalid forest parameters: {reason}")]
    InvalidParams {
        /// What is wrong.
        reason: String,
    },
}

/// `c(n)`: mean path length of an unsuccessful search in a binary search tree of n points.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// A node of the flat tree array. Leaves have `left == LEAF`, and `size` rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Node {
    /// Feature index (axis splits), or offset into `normals` (hyperplane splits).
    split: u32,
    /// Threshold: go left when `x[split] < threshold` (axis) or `x·n < threshold` (plane).
    /// In a leaf: `c(size)`, precomputed so scoring takes no logarithm.
    threshold: f64,
    left: u32,
    right: u32,
    /// Rows that reached a leaf.
    size: u32,
}

const LEAF: u32 = u32::MAX;

impl Node {
    /// A slot reserved for a node the work list has yet to fill in.
    const PENDING: Node = Node {
        split: 0,
        threshold: 0.0,
        left: LEAF,
        right: LEAF,
        size: 0,
    };
}

/// A fitted Isolation Forest.
///
/// ```
/// use ndarray::array;
/// use netsentinel_core::ml::{ForestParams, IsolationForest};
/// let mut rows = Vec::new();
/// for i in 0..300 {
///     let x = (i % 17) as f64 * 0.1;
///     rows.extend_from_slice(&[x, 1.0 - x]);
/// }
/// let data = ndarray::Array2::from_shape_vec((300, 2), rows).unwrap();
/// let forest = IsolationForest::fit(data.view(), &ForestParams::default()).unwrap();
/// let normal = forest.score(array![0.8, 0.2].view()).unwrap();
/// let odd = forest.score(array![40.0, -30.0].view()).unwrap();
/// assert!(odd > normal);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationForest {
    params: ForestParams,
    dims: usize,
    psi: usize,
    nodes: Vec<Node>,
    roots: Vec<u32>,
    /// Hyperplane normals, `dims` values each (extended forests only).
    normals: Vec<f64>,
    /// The same trees laid out for fast scoring, built on first use (also after loading).
    #[serde(skip)]
    complete: CompleteCache,
}

/// Trees of an axis-split forest as complete binary trees of the depth limit, in
/// breadth-first order (children of slot `i` at `2i + 1` and `2i + 2`). A leaf above the
/// last level is spread over every last-level slot beneath it, so every walk takes exactly
/// `depth` steps with no branch to mispredict: `i = 2i + 1 + (x[f] >= t)`. The steps of
/// different rows are independent, and the processor overlaps them.
#[derive(Debug)]
struct CompleteForest {
    depth: u32,
    /// Slots per tree in `splits` and `leaves`: `2^depth`, at least [`FAST_SLOTS`].
    stride: usize,
    /// Split threshold per inner slot (`2^depth - 1` used per tree). The split's parts are
    /// kept in parallel arrays so each load scales its slot index in the address itself.
    thresholds: Vec<f64>,
    /// Split feature per inner slot.
    features: Vec<u32>,
    /// Split feature per inner slot as a byte (read on the fast path only, where there are
    /// at most [`FAST_FEATURES`] features).
    byte_features: Vec<u8>,
    /// Path length (depth + c(size)) per last-level slot (`2^depth` used per tree).
    leaves: Vec<f64>,
    /// Whether [`CompleteForest::add_interleaved`] can walk it: depth at most 8 and at most
    /// [`FAST_FEATURES`] features.
    interleaved: bool,
    /// The same trees for the vector walk, where the processor and the forest allow it.
    vector: Option<avx512::VectorForest>,
}

/// Running sums of path lengths per row: tree `t` adds to sum `t % SUM_LANES`, trees in
/// order, and the row's total is the sums added in order ([`lane_total`]). Every walk (the
/// vector walk adds sixteen trees at once, one per lane) sums in this one order, so a row's
/// score does not depend on which walk scored it, to the bit.
const SUM_LANES: usize = 16;

/// A row's total path length from its lane sums, in the one order every walk uses.
fn lane_total(sums: &[f64; SUM_LANES]) -> f64 {
    sums.iter().sum()
}

/// Buffers a scoring thread keeps from block to block.
#[derive(Default)]
struct Scratch {
    /// Rows interleaved in groups of [`LANES`], for [`CompleteForest::add_interleaved`].
    interleaved: Vec<f64>,
    /// Rows padded for the vector walk.
    padded: Vec<avx512::PaddedRow>,
}

/// The walk's direction: right unless `x < threshold`, so NaN goes right as in the node
/// walk.
#[inline]
fn goes_right(x: f64, threshold: f64) -> bool {
    x.partial_cmp(&threshold) != Some(std::cmp::Ordering::Less)
}

/// Rows that step through a tree together: independent chains of loads in flight at once.
/// A level's step waits on a chain of loads (split feature, then value and threshold), so
/// more rows in flight hide more of it: 16 lanes walk about a tenth faster than 8; 24 run
/// out of registers and are slower.
const LANES: usize = 16;
/// Slots per tree on the fast path: a `u8` slot index is then in bounds by its type.
const FAST_SLOTS: usize = 256;
/// Features on the fast path: a feature index fits a `u8`.
const FAST_FEATURES: usize = 256;
/// Values a lane's load may reach from a group's start on the fast path: a `u8` feature
/// times [`LANES`] plus a lane, so the load is in bounds by its types and needs no check.
const GROUP_WINDOW: usize = FAST_FEATURES * LANES;
/// Rows scored together: a block of interleaved rows stays in the L1 cache while every
/// tree walks it.
const BLOCK: usize = 8 * LANES;

impl CompleteForest {
    fn inner_slots(&self) -> usize {
        (1usize << self.depth) - 1
    }

    /// Adds each tree's path lengths of interleaved groups of [`LANES`] rows to `sums`,
    /// LANES per group. Group `g` starts at `g * group_len` in `groups` (value of feature `f`
    /// of lane `l` at `f * LANES + l`), and `groups` extends [`GROUP_WINDOW`] values past
    /// the last group's start. The lanes step level by level together; every index is in
    /// bounds by its type (`u8` slot and feature into fixed-size arrays), so the walk holds
    /// no bounds check and no register per lane for where its row starts.
    fn add_interleaved<const DEPTH: u32>(
        &self,
        groups: &[f64],
        group_len: usize,
        sums: &mut [[f64; SUM_LANES]],
    ) {
        let inner = self.inner_slots();
        let trees = self
            .thresholds
            .chunks_exact(FAST_SLOTS)
            .zip(self.byte_features.chunks_exact(FAST_SLOTS))
            .zip(self.leaves.chunks_exact(FAST_SLOTS));
        for (tree, ((thresholds, features), leaves)) in trees.enumerate() {
            let (Ok(thresholds), Ok(features), Ok(leaves)) = (
                <&[f64; FAST_SLOTS]>::try_from(thresholds),
                <&[u8; FAST_SLOTS]>::try_from(features),
                <&[f64; FAST_SLOTS]>::try_from(leaves),
            ) else {
                continue;
            };
            for (g, sum) in sums.chunks_exact_mut(LANES).enumerate() {
                let Some(Ok(group)) = groups
                    .get(g * group_len..g * group_len + GROUP_WINDOW)
                    .map(<&[f64; GROUP_WINDOW]>::try_from)
                else {
                    continue;
                };
                let mut at = [0usize; LANES];
                for _ in 0..DEPTH {
                    for (lane, i) in at.iter_mut().enumerate() {
                        // Inner slots are below 255 with depth <= 8: the cast keeps them.
                        let slot = usize::from(*i as u8);
                        let x = group[usize::from(features[slot]) * LANES + lane];
                        *i = 2 * *i + 1 + usize::from(goes_right(x, thresholds[slot]));
                    }
                }
                for (s, i) in sum.iter_mut().zip(at) {
                    s[tree % SUM_LANES] += leaves[usize::from((i - inner) as u8)];
                }
            }
        }
    }

    /// Adds each tree's path lengths of row-major `rows` to `sums`, one row at a time.
    fn add_rows(&self, rows: &[f64], dims: usize, sums: &mut [[f64; SUM_LANES]]) {
        let inner = self.inner_slots();
        let trees = self
            .thresholds
            .chunks_exact(self.stride)
            .zip(self.features.chunks_exact(self.stride))
            .zip(self.leaves.chunks_exact(self.stride));
        for (tree, ((thresholds, features), leaves)) in trees.enumerate() {
            for (row, sum) in rows.chunks_exact(dims).zip(sums.iter_mut()) {
                let mut i = 0usize;
                for _ in 0..self.depth {
                    let x = row[features[i] as usize];
                    i = 2 * i + 1 + usize::from(goes_right(x, thresholds[i]));
                }
                sum[tree % SUM_LANES] += leaves[i - inner];
            }
        }
    }
}

/// Deepest tree laid out complete: 2^10 slots a tree (26 kB) still sits in the L1/L2 cache
/// while a block of rows walks it. ψ up to 1024.
const MAX_COMPLETE_DEPTH: u32 = 10;

/// A lazily built [`CompleteForest`]; equal to any other (it is derived data).
#[derive(Debug, Default)]
struct CompleteCache(std::sync::OnceLock<Option<CompleteForest>>);

impl Clone for CompleteCache {
    fn clone(&self) -> Self {
        CompleteCache::default()
    }
}

impl PartialEq for CompleteCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// One tree's nodes before they are appended to the forest.
struct TreeBuild {
    nodes: Vec<Node>,
    normals: Vec<f64>,
}

/// Threads to use: `requested`, or one per core when 0.
fn thread_count(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Whether every value is finite. A fit checks the whole input, so this scan runs over all
/// of it: in memory order, a chunk at a time without stopping early inside a chunk, which
/// the compiler turns into vector compares (a million rows of 20 scanned in a few ms).
fn all_finite(data: ArrayView2<'_, f64>) -> bool {
    match data.as_slice_memory_order() {
        Some(values) => values
            .chunks(1024)
            .all(|chunk| chunk.iter().fold(true, |finite, v| finite & v.is_finite())),
        None => data.iter().all(|v| v.is_finite()),
    }
}

/// SplitMix64: independent per-tree seeds from one seed.
fn tree_seed(seed: u64, tree: usize) -> u64 {
    let mut z = seed.wrapping_add((tree as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn dot(a: ArrayView1<'_, f64>, n: &[f64]) -> f64 {
    a.iter().zip(n).map(|(x, w)| x * w).sum()
}

/// A standard normal deviate (Box–Muller), for hyperplane directions.
fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A split threshold drawn uniformly from `min..max`, or `None` when the values do not vary
/// (or a hyperplane's projections overflowed). Where `max - min` itself overflows (values
/// near the largest floats) rand cannot draw from the range, and the threshold is
/// interpolated between the two instead.
fn draw_threshold(rng: &mut StdRng, min: f64, max: f64) -> Option<f64> {
    if !(min.is_finite() && max.is_finite() && max > min) {
        return None;
    }
    if (max - min).is_finite() {
        Some(rng.random_range(min..max))
    } else {
        let u: f64 = rng.random_range(0.0..1.0);
        Some((min * (1.0 - u) + max * u).clamp(min, max))
    }
}

fn build_tree(data: ArrayView2<'_, f64>, psi: usize, extended: bool, seed: u64) -> TreeBuild {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = data.nrows();
    let dims = data.ncols();
    // Sub-sample without replacement: partial Fisher–Yates over a virtual 0..n, holding
    // only the positions it has swapped (writing out all n indices per tree made a fit on
    // a million rows spend its time filling memory).
    let mut moved: std::collections::HashMap<usize, usize> =
        std::collections::HashMap::with_capacity(2 * psi);
    let mut idx: Vec<usize> = Vec::with_capacity(psi);
    for i in 0..psi {
        let j = rng.random_range(i..n);
        let at_j = moved.get(&j).copied().unwrap_or(j);
        let at_i = moved.get(&i).copied().unwrap_or(i);
        moved.insert(j, at_i);
        idx.push(at_j);
    }
    // The sampled rows, copied together: the splits below scan them again and again, and
    // scattered over a large input each scan would miss the cache.
    let mut sample = ndarray::Array2::zeros((psi, dims));
    for (mut to, &from) in sample.rows_mut().into_iter().zip(&idx) {
        to.assign(&data.row(from));
    }
    let data = sample.view();
    let mut idx: Vec<usize> = (0..psi).collect();
    let depth_limit = (psi as f64).log2().ceil() as usize;
    let mut nodes: Vec<Node> = Vec::with_capacity(2 * psi);
    let mut normals: Vec<f64> = Vec::new();
    // Work list: (node index to fill, rows range in idx, depth).
    nodes.push(Node::PENDING);
    let mut stack = vec![(0usize, 0usize, psi, 0usize)];
    while let Some((node, lo, hi, depth)) = stack.pop() {
        let size = hi - lo;
        let leaf = |nodes: &mut Vec<Node>| {
            nodes[node] = Node {
                split: 0,
                // c(size), precomputed: scoring then takes no logarithm.
                threshold: average_path_length(size),
                left: LEAF,
                right: LEAF,
                size: size as u32,
            };
        };
        if depth >= depth_limit || size <= 1 {
            leaf(&mut nodes);
            continue;
        }
        // Choose a split that separates something; give up (leaf) if every try is flat.
        // Axis splits draw features without replacement until one varies in this node: a
        // uniform draw among the non-constant features, as Liu et al. (and scikit-learn)
        // do. (Retrying with replacement a fixed number of times would sometimes give up
        // on a node with one varying feature, making a premature leaf in exactly the dense
        // regions where inliers live.)
        let mut chosen: Option<(u32, f64)> = None;
        let mut candidates: Vec<usize> = if extended {
            Vec::new()
        } else {
            (0..dims).collect()
        };
        let tries = if extended { dims.max(1) * 2 } else { dims };
        for attempt in 0..tries {
            if extended {
                let normal: Vec<f64> = (0..dims).map(|_| gaussian(&mut rng)).collect();
                let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
                for &r in &idx[lo..hi] {
                    let v = dot(data.row(r), &normal);
                    min = min.min(v);
                    max = max.max(v);
                }
                if let Some(threshold) = draw_threshold(&mut rng, min, max) {
                    let offset = normals.len() as u32;
                    normals.extend_from_slice(&normal);
                    chosen = Some((offset, threshold));
                    break;
                }
            } else {
                let pick = rng.random_range(attempt..dims);
                candidates.swap(attempt, pick);
                let q = candidates[attempt];
                let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
                for &r in &idx[lo..hi] {
                    let v = data[[r, q]];
                    min = min.min(v);
                    max = max.max(v);
                }
                if let Some(threshold) = draw_threshold(&mut rng, min, max) {
                    chosen = Some((q as u32, threshold));
                    break;
                }
            }
        }
        let Some((split, threshold)) = chosen else {
            leaf(&mut nodes);
            continue;
        };
        // Partition idx[lo..hi] into < threshold (left) and >= threshold (right).
        let value = |r: usize| -> f64 {
            if extended {
                let s = split as usize;
                dot(data.row(r), &normals[s..s + dims])
            } else {
                data[[r, split as usize]]
            }
        };
        let mut mid = lo;
        for i in lo..hi {
            if value(idx[i]) < threshold {
                idx.swap(i, mid);
                mid += 1;
            }
        }
        let left = nodes.len();
        nodes.push(Node::PENDING);
        let right = nodes.len();
        nodes.push(Node::PENDING);
        nodes[node] = Node {
            split,
            threshold,
            left: left as u32,
            right: right as u32,
            size: size as u32,
        };
        stack.push((left, lo, mid, depth + 1));
        stack.push((right, mid, hi, depth + 1));
    }
    TreeBuild { nodes, normals }
}

impl IsolationForest {
    /// Fits a forest on the rows of `data`, in parallel across the machine's cores.
    ///
    /// # Errors
    /// [`ModelError::InsufficientData`] with fewer than 2 rows or no feature,
    /// [`ModelError::InvalidParams`] with no tree or a sub-sample below 2.
    pub fn fit(data: ArrayView2<'_, f64>, params: &ForestParams) -> Result<Self, ModelError> {
        if params.trees == 0 || params.subsample < 2 {
            return Err(ModelError::InvalidParams {
                reason: "trees must be at least 1 and subsample at least 2".into(),
            });
        }
        if data.nrows() < 2 || data.ncols() == 0 {
            return Err(ModelError::InsufficientData {
                needed: 2,
                got: data.nrows(),
            });
        }
        if !all_finite(data) {
            return Err(ModelError::InvalidParams {
                reason: "data holds NaN or infinite values".into(),
            });
        }
        let psi = params.subsample.min(data.nrows());
        let threads = thread_count(params.threads).min(params.trees);
        let per_thread = params.trees.div_ceil(threads);
        let mut built: Vec<(usize, TreeBuild)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let range = t * per_thread..((t + 1) * per_thread).min(params.trees);
                    s.spawn(move || {
                        range
                            .map(|tree| {
                                (
                                    tree,
                                    build_tree(
                                        data,
                                        psi,
                                        params.extended,
                                        tree_seed(params.seed, tree),
                                    ),
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if built.len() != params.trees {
            return Err(ModelError::InvalidParams {
                reason: "a tree-building thread failed".into(),
            });
        }
        built.sort_by_key(|(tree, _)| *tree);
        let mut forest = IsolationForest {
            params: params.clone(),
            dims: data.ncols(),
            psi,
            nodes: Vec::new(),
            roots: Vec::with_capacity(params.trees),
            normals: Vec::new(),
            complete: CompleteCache::default(),
        };
        for (_, tree) in built {
            let node_base = forest.nodes.len() as u32;
            let normal_base = forest.normals.len() as u32;
            forest.roots.push(node_base);
            forest.normals.extend_from_slice(&tree.normals);
            forest.nodes.extend(tree.nodes.into_iter().map(|mut n| {
                if n.left != LEAF {
                    n.left += node_base;
                    n.right += node_base;
                    if params.extended {
                        n.split += normal_base;
                    }
                }
                n
            }));
        }
        Ok(forest)
    }

    /// Features per row.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The parameters it was fitted with.
    pub fn params(&self) -> &ForestParams {
        &self.params
    }

    /// Path length of `x` (a contiguous row) in the tree at `root`: edges walked plus the
    /// leaf's precomputed c(size).
    fn path_length(&self, root: u32, x: &[f64]) -> f64 {
        let nodes = &self.nodes;
        let mut node = &nodes[root as usize];
        let mut depth = 0u32;
        if self.params.extended {
            while node.left != LEAF {
                let s = node.split as usize;
                let v: f64 = x
                    .iter()
                    .zip(&self.normals[s..s + self.dims])
                    .map(|(a, w)| a * w)
                    .sum();
                node = &nodes[if v < node.threshold {
                    node.left
                } else {
                    node.right
                } as usize];
                depth += 1;
            }
        } else {
            while node.left != LEAF {
                let v = x[node.split as usize];
                node = &nodes[if v < node.threshold {
                    node.left
                } else {
                    node.right
                } as usize];
                depth += 1;
            }
        }
        f64::from(depth) + node.threshold
    }

    /// The complete-tree layout, when this forest has one (axis splits, depth limit at
    /// most [`MAX_COMPLETE_DEPTH`]).
    fn complete(&self) -> Option<&CompleteForest> {
        self.complete
            .0
            .get_or_init(|| {
                let depth = (self.psi as f64).log2().ceil() as u32;
                if self.params.extended || depth > MAX_COMPLETE_DEPTH {
                    return None;
                }
                let inner = (1usize << depth) - 1;
                let stride = (inner + 1).max(FAST_SLOTS);
                let mut forest = CompleteForest {
                    depth,
                    stride,
                    thresholds: vec![0.0; stride * self.roots.len()],
                    features: vec![0; stride * self.roots.len()],
                    byte_features: vec![0; stride * self.roots.len()],
                    leaves: vec![0.0; stride * self.roots.len()],
                    interleaved: stride == FAST_SLOTS && self.dims <= FAST_FEATURES,
                    vector: None,
                };
                for (t, &root) in self.roots.iter().enumerate() {
                    // (node, slot, level) from the root down.
                    let mut work = vec![(root, 0usize, 0u32)];
                    while let Some((node, slot, level)) = work.pop() {
                        let n = &self.nodes[node as usize];
                        if n.left == LEAF {
                            let span = 1usize << (depth - level);
                            let first = (slot + 1) * span - 1 - inner;
                            let value = f64::from(level) + n.threshold;
                            forest.leaves[t * stride + first..][..span].fill(value);
                        } else {
                            let at = t * stride + slot;
                            forest.thresholds[at] = n.threshold;
                            forest.features[at] = n.split;
                            // Only read on the fast path, where it fits.
                            forest.byte_features[at] = n.split as u8;
                            work.push((n.left, 2 * slot + 1, level + 1));
                            work.push((n.right, 2 * slot + 2, level + 1));
                        }
                    }
                }
                forest.vector = avx512::VectorForest::build(&forest, self.roots.len(), self.dims);
                Some(forest)
            })
            .as_ref()
    }

    /// Adds the path lengths of `rows` (`dims` values each) in every tree to their lane
    /// sums, on the vector walk where there is one; `scratch` holds buffers the caller
    /// keeps for the next block.
    fn add_path_lengths(&self, rows: &[f64], sums: &mut [[f64; SUM_LANES]], scratch: &mut Scratch) {
        self.add_path_lengths_by(rows, sums, scratch, true);
    }

    /// [`add_path_lengths`](Self::add_path_lengths), on the scalar walks unless `vector`.
    fn add_path_lengths_by(
        &self,
        rows: &[f64],
        sums: &mut [[f64; SUM_LANES]],
        scratch: &mut Scratch,
        vector: bool,
    ) {
        let dims = self.dims;
        match self.complete() {
            Some(CompleteForest {
                vector: Some(walk), ..
            }) if vector => {
                let padded = &mut scratch.padded;
                padded.clear();
                padded.extend(rows.chunks_exact(dims).map(avx512::PaddedRow::new));
                walk.add_path_lengths(padded, sums);
            }
            Some(c) if c.interleaved && rows.len() >= dims * LANES => {
                let grouped_rows = rows.len() / (dims * LANES) * LANES;
                let (grouped, rest) = rows.split_at(grouped_rows * dims);
                let (grouped_sums, rest_sums) = sums.split_at_mut(grouped_rows);
                // Interleave each group of LANES rows feature by feature, so a lane's value
                // of a feature sits at a fixed distance from where the feature starts; the
                // padding after the last group keeps every group's load window inside the
                // buffer (it is never read: features are below `dims`).
                let group_len = dims * LANES;
                let interleaved = &mut scratch.interleaved;
                interleaved.resize(grouped.len() + GROUP_WINDOW, 0.0);
                for (src, dst) in grouped
                    .chunks_exact(group_len)
                    .zip(interleaved.chunks_exact_mut(group_len))
                {
                    for (lane, row) in src.chunks_exact(dims).enumerate() {
                        for (f, &v) in row.iter().enumerate() {
                            dst[f * LANES + lane] = v;
                        }
                    }
                }
                match c.depth {
                    8 => c.add_interleaved::<8>(interleaved, group_len, grouped_sums),
                    7 => c.add_interleaved::<7>(interleaved, group_len, grouped_sums),
                    6 => c.add_interleaved::<6>(interleaved, group_len, grouped_sums),
                    5 => c.add_interleaved::<5>(interleaved, group_len, grouped_sums),
                    4 => c.add_interleaved::<4>(interleaved, group_len, grouped_sums),
                    3 => c.add_interleaved::<3>(interleaved, group_len, grouped_sums),
                    2 => c.add_interleaved::<2>(interleaved, group_len, grouped_sums),
                    _ => c.add_interleaved::<1>(interleaved, group_len, grouped_sums),
                }
                c.add_rows(rest, dims, rest_sums);
            }
            Some(c) => c.add_rows(rows, dims, sums),
            None => {
                for (tree, &root) in self.roots.iter().enumerate() {
                    for (row, sum) in rows.chunks_exact(dims).zip(sums.iter_mut()) {
                        sum[tree % SUM_LANES] += self.path_length(root, row);
                    }
                }
            }
        }
    }

    fn score_slice(&self, x: &[f64]) -> f64 {
        let mut sums = [[0.0; SUM_LANES]];
        self.add_path_lengths(x, &mut sums, &mut Scratch::default());
        let mean = lane_total(&sums[0]) / self.roots.len() as f64;
        (-mean / average_path_length(self.psi)).exp2()
    }

    /// The anomaly score of one row, in (0, 1].
    ///
    /// # Errors
    /// [`ModelError::DimensionMismatch`] when the row has the wrong number of features.
    pub fn score(&self, x: ArrayView1<'_, f64>) -> Result<f64, ModelError> {
        if x.len() != self.dims {
            return Err(ModelError::DimensionMismatch {
                expected: self.dims,
                got: x.len(),
            });
        }
        match x.as_slice() {
            Some(row) => Ok(self.score_slice(row)),
            None => Ok(self.score_slice(&x.to_vec())),
        }
    }

    /// Scores every row, in parallel across cores.
    ///
    /// # Errors
    /// [`ModelError::DimensionMismatch`] when the rows have the wrong number of features.
    pub fn score_batch(&self, data: ArrayView2<'_, f64>) -> Result<Vec<f64>, ModelError> {
        if data.ncols() != self.dims {
            return Err(ModelError::DimensionMismatch {
                expected: self.dims,
                got: data.ncols(),
            });
        }
        let n = data.nrows();
        let threads = thread_count(self.params.threads).min(n.max(1));
        let chunk = n.div_ceil(threads.max(1)).max(1);
        let mut out = vec![0.0; n];
        std::thread::scope(|s| {
            for (i, slot) in out.chunks_mut(chunk).enumerate() {
                s.spawn(move || {
                    // Tree-major over blocks of rows: one tree (a few KB) stays in L1 while a
                    // block of rows walks it; row-major order streams the whole forest
                    // through the cache for every row.
                    let dims = self.dims;
                    let first = i * chunk;
                    let mut rows = vec![0.0; BLOCK * dims];
                    let mut sums = vec![[0.0; SUM_LANES]; BLOCK];
                    let mut scratch = Scratch::default();
                    // Rows in standard (row-major, contiguous) layout are read in place.
                    let contiguous = data.as_slice();
                    for (b, out) in slot.chunks_mut(BLOCK).enumerate() {
                        let n = out.len();
                        let start = first + b * BLOCK;
                        let block: &[f64] = match contiguous {
                            Some(all) => &all[start * dims..(start + n) * dims],
                            None => {
                                for r in 0..n {
                                    let row = data.row(start + r);
                                    for (dst, src) in
                                        rows[r * dims..(r + 1) * dims].iter_mut().zip(row.iter())
                                    {
                                        *dst = *src;
                                    }
                                }
                                &rows[..n * dims]
                            }
                        };
                        sums[..n].iter_mut().for_each(|s| *s = [0.0; SUM_LANES]);
                        self.add_path_lengths(block, &mut sums[..n], &mut scratch);
                        let c = average_path_length(self.psi);
                        let trees = self.roots.len() as f64;
                        for (o, s) in out.iter_mut().zip(&sums) {
                            *o = (-(lane_total(s) / trees) / c).exp2();
                        }
                    }
                });
            }
        });
        Ok(out)
    }

    /// The score above which a `contamination` share (0 to 0.5) of `data` lies: a threshold
    /// for a known share of anomalies.
    ///
    /// # Errors
    /// As [`score_batch`](Self::score_batch); [`ModelError::InvalidParams`] for a share out
    /// of range.
    pub fn threshold_for_contamination(
        &self,
        data: ArrayView2<'_, f64>,
        contamination: f64,
    ) -> Result<f64, ModelError> {
        if !(0.0..=0.5).contains(&contamination) {
            return Err(ModelError::InvalidParams {
                reason: format!("contamination {contamination} is not within 0..=0.5"),
            });
        }
        let mut scores = self.score_batch(data)?;
        scores.sort_by(f64::total_cmp);
        let k = ((1.0 - contamination) * scores.len() as f64).floor() as usize;
        Ok(scores[k.min(scores.len().saturating_sub(1))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    /// The ordinary node-by-node walk of `row`: its lane sums and its score.
    fn node_walk(forest: &IsolationForest, row: &[f64]) -> ([f64; SUM_LANES], f64) {
        let mut sums = [0.0; SUM_LANES];
        for (tree, &root) in forest.roots.iter().enumerate() {
            sums[tree % SUM_LANES] += forest.path_length(root, row);
        }
        let mean = lane_total(&sums) / forest.roots.len() as f64;
        (sums, (-mean / average_path_length(forest.psi)).exp2())
    }

    #[test]
    fn every_walk_scores_exactly_as_the_node_walk() {
        // Repeated rows make leaves above the depth limit; ψ = 100 is not a power of two;
        // 1203 rows leave a part group (of 16 rows, and of 4 on the vector walk); 16, 17 and
        // 32 features are where the vector walk's registers per row change and end, 256
        // features is the last the interleaved walk takes, ψ = 1024 (depth 10) and 257
        // features take the row-by-row walk; ψ = 16 is the shallowest forest the vector walk
        // takes and ψ = 8 too shallow for it; 30 trees end in a part group of sixteen.
        let vector_walk = cfg!(target_arch = "x86_64")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl");
        if !vector_walk {
            eprintln!("no AVX-512 here: the vector walk is not tested, the scalar walks are");
        }
        for dims in [4, 16, 17, 32, 33, 256, 257] {
            let data =
                Array2::from_shape_fn((1203, dims), |(i, j)| ((i % 90) * (j + 3) % 37) as f64);
            let mut scored = data.clone();
            scored[[5, dims - 1]] = f64::NAN;
            scored[[6, 0]] = f64::NAN;
            scored[[7, dims / 2]] = f64::INFINITY;
            for subsample in [1024, 256, 100, 16, 8, 2] {
                let forest = IsolationForest::fit(
                    data.view(),
                    &ForestParams {
                        subsample,
                        trees: 30,
                        ..ForestParams::default()
                    },
                )
                .unwrap();
                let complete = forest.complete().expect("complete layout");
                assert_eq!(complete.interleaved, dims <= 256 && subsample <= 256);
                assert_eq!(
                    complete.vector.is_some(),
                    vector_walk && dims <= 32 && subsample >= 16
                );
                let batch = forest.score_batch(scored.view()).unwrap();
                let rows = scored.as_slice().unwrap();
                let mut scalar = vec![[0.0; SUM_LANES]; scored.nrows()];
                forest.add_path_lengths_by(rows, &mut scalar, &mut Scratch::default(), false);
                for (i, row) in scored.rows().into_iter().enumerate() {
                    let row = row.to_vec();
                    let (walked, expected) = node_walk(&forest, &row);
                    let at = format!("row {i}, ψ {subsample}, {dims} features");
                    assert_eq!(scalar[i], walked, "scalar walk: {at}");
                    assert_eq!(batch[i], expected, "batch: {at}");
                }
            }
        }
    }

    #[test]
    fn values_at_a_threshold_take_the_node_walks_branch() {
        // The vector walk compares rounded images first and the exact values only when the
        // two are close: rows at, just above and just below every threshold.
        let data = Array2::from_shape_fn((2000, 5), |(i, j)| {
            ((i * 7919 + j * 104_729) % 10_007) as f64 / 97.0 - 50.0
        });
        let forest = IsolationForest::fit(
            data.view(),
            &ForestParams {
                trees: 20,
                ..ForestParams::default()
            },
        )
        .unwrap();
        let mut rows = Vec::new();
        for node in forest.nodes.iter().filter(|n| n.left != LEAF) {
            let t = node.threshold;
            for value in [t, t.next_up(), t.next_down(), t as f32 as f64] {
                let mut row = data.row(rows.len() % 2000).to_vec();
                row[node.split as usize] = value;
                rows.extend(row);
            }
        }
        let rows = Array2::from_shape_vec((rows.len() / 5, 5), rows).unwrap();
        let batch = forest.score_batch(rows.view()).unwrap();
        for (i, row) in rows.rows().into_iter().enumerate() {
            let row = row.to_vec();
            assert_eq!(batch[i], node_walk(&forest, &row).1, "row {i}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]
        /// Any values (NaN, infinities, signed zeros, subnormals, the largest floats) in any
        /// shape: every walk scores each row as the node walk does. Fitted on the values
        /// with the non-finite ones set to 0.
        #[test]
        fn walks_agree_on_any_values(
            dims in 1usize..40,
            trees in 1usize..20,
            subsample in 2usize..80,
            seed: u64,
            values in proptest::collection::vec(proptest::num::f64::ANY, 40 * 90),
        ) {
            let data = Array2::from_shape_vec((90, dims), values[..90 * dims].to_vec()).unwrap();
            let train = data.mapv(|v| if v.is_finite() { v } else { 0.0 });
            let params = ForestParams { trees, subsample, seed, ..ForestParams::default() };
            let forest = IsolationForest::fit(train.view(), &params).unwrap();
            let batch = forest.score_batch(data.view()).unwrap();
            let mut scalar = vec![[0.0; SUM_LANES]; data.nrows()];
            let rows = data.as_slice().unwrap();
            forest.add_path_lengths_by(rows, &mut scalar, &mut Scratch::default(), false);
            for (i, row) in data.rows().into_iter().enumerate() {
                let row = row.to_vec();
                let (walked, expected) = node_walk(&forest, &row);
                proptest::prop_assert_eq!(scalar[i], walked);
                proptest::prop_assert_eq!(batch[i], expected);
            }
        }
    }

    #[test]
    fn fits_values_near_the_largest_floats() {
        // max - min overflows: rand cannot draw from such a range (the fit used to fail
        // with "a tree-building thread failed"); hyperplane projections overflow too.
        let data = Array2::from_shape_fn((300, 3), |(i, j)| {
            let sign = if (i + j) % 2 == 0 { 1.0 } else { -1.0 };
            sign * f64::MAX / ((i % 7) as f64 + 1.0)
        });
        for extended in [false, true] {
            let params = ForestParams {
                extended,
                trees: 20,
                ..ForestParams::default()
            };
            let forest = IsolationForest::fit(data.view(), &params).unwrap();
            let scores = forest.score_batch(data.view()).unwrap();
            assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{extended}");
        }
    }

    /// A 2-D blob of 500 points around (0, 0) plus 5 far points, from a fixed LCG.
    fn blob_with_outliers() -> Array2<f64> {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        let mut rows = Vec::new();
        for _ in 0..500 {
            rows.push(next());
            rows.push(next());
        }
        for k in 0..5 {
            rows.push(8.0 + k as f64);
            rows.push(-8.0 - k as f64);
        }
        Array2::from_shape_vec((505, 2), rows).unwrap()
    }

    #[test]
    fn c_of_n_matches_the_paper() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        assert!((average_path_length(256) - 10.2448).abs() < 1e-3);
    }

    #[test]
    fn outliers_score_high_and_inliers_low() {
        for extended in [false, true] {
            let data = blob_with_outliers();
            let params = ForestParams {
                seed: 7,
                extended,
                ..ForestParams::default()
            };
            let f = IsolationForest::fit(data.view(), &params).unwrap();
            let scores = f.score_batch(data.view()).unwrap();
            let inlier_mean = scores[..500].iter().sum::<f64>() / 500.0;
            let outlier_min = scores[500..].iter().copied().fold(f64::INFINITY, f64::min);
            assert!(
                inlier_mean < 0.5,
                "extended={extended}: inliers {inlier_mean}"
            );
            assert!(
                outlier_min > 0.65,
                "extended={extended}: outliers {outlier_min}"
            );
            let t = f.threshold_for_contamination(data.view(), 0.01).unwrap();
            let flagged = scores.iter().filter(|&&s| s > t).count();
            assert!(flagged <= 6, "{flagged} above the 1% threshold");
        }
    }

    #[test]
    fn batch_scores_equal_row_scores() {
        for extended in [false, true] {
            let data = blob_with_outliers();
            let p = ForestParams {
                extended,
                threads: 2,
                ..ForestParams::default()
            };
            let f = IsolationForest::fit(data.view(), &p).unwrap();
            let batch = f.score_batch(data.view()).unwrap();
            for (i, b) in batch.iter().enumerate() {
                let one = f.score(data.row(i)).unwrap();
                assert!((one - b).abs() < 1e-12, "row {i}: {one} vs {b}");
            }
        }
    }

    #[test]
    fn fits_are_reproducible_and_seed_dependent() {
        let data = blob_with_outliers();
        let p = ForestParams {
            seed: 3,
            ..ForestParams::default()
        };
        let a = IsolationForest::fit(data.view(), &p).unwrap();
        let b = IsolationForest::fit(data.view(), &p).unwrap();
        assert_eq!(a, b);
        let c = IsolationForest::fit(
            data.view(),
            &ForestParams {
                seed: 4,
                ..p.clone()
            },
        )
        .unwrap();
        assert_ne!(a, c);
        let one_thread = IsolationForest::fit(
            data.view(),
            &ForestParams {
                threads: 1,
                ..p.clone()
            },
        )
        .unwrap();
        assert_eq!(
            a.nodes, one_thread.nodes,
            "thread count does not change the forest"
        );
    }

    #[test]
    fn errors_are_reported() {
        let data = blob_with_outliers();
        let f = IsolationForest::fit(data.view(), &ForestParams::default()).unwrap();
        assert_eq!(
            f.score(array![1.0, 2.0, 3.0].view()),
            Err(ModelError::DimensionMismatch {
                expected: 2,
                got: 3
            })
        );
        let one = Array2::from_shape_vec((1, 2), vec![1.0, 2.0]).unwrap();
        assert!(matches!(
            IsolationForest::fit(one.view(), &ForestParams::default()),
            Err(ModelError::InsufficientData { .. })
        ));
        let nan = Array2::from_shape_vec((2, 1), vec![f64::NAN, 1.0]).unwrap();
        assert!(IsolationForest::fit(nan.view(), &ForestParams::default()).is_err());
        let trees0 = ForestParams {
            trees: 0,
            ..ForestParams::default()
        };
        assert!(IsolationForest::fit(data.view(), &trees0).is_err());
    }
}
