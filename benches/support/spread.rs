//! Median, minimum and maximum of a bench's per-round figures.

/// (median, min, max) of `v`; NaN for all three when `v` is empty.
pub fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}
