//! Numbers written into large text tables quickly: `format!("{v:.6}")` costs more than the model
//! computing the value when a table has a row per base (saliency, mutagenesis).

/// Appends `v` in decimal.
pub fn push_int(buf: &mut Vec<u8>, v: u64) {
    let mut digits = [0u8; 20];
    let mut n = v;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Appends `v` with exactly 6 decimals, rounded half away from zero, as `{:.6}` prints it (up to
/// that rounding rule; -0.000000 is written 0.000000). Values beyond 9e12 and non-finite ones fall
/// back to `format!`.
pub fn push_fixed6(buf: &mut Vec<u8>, v: f64) {
    if !v.is_finite() || v.abs() >= 9e12 {
        buf.extend_from_slice(format!("{v:.6}").as_bytes());
        return;
    }
    let micros = (v * 1e6).round() as i64;
    if micros < 0 {
        buf.push(b'-');
    }
    let m = micros.unsigned_abs();
    push_int(buf, m / 1_000_000);
    buf.push(b'.');
    let frac = m % 1_000_000;
    let mut digits = [b'0'; 6];
    let mut f = frac;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (f % 10) as u8;
        f /= 10;
    }
    buf.extend_from_slice(&digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fixed6_matches_format() {
        for v in [
            0.0,
            1.0,
            -1.0,
            0.5,
            0.1234565,
            -0.0000004,
            123456.789012,
            2.5625,
            -2.5e-7,
            1e-6,
            0.9999996,
            -17.25,
        ] {
            let mut b = Vec::new();
            push_fixed6(&mut b, v);
            let want = format!("{v:.6}");
            let got = String::from_utf8(b).unwrap();
            let same = got == want || (want == "-0.000000" && got == "0.000000");
            // Halves round away from zero here, to even in `format!`: the value is the same to 1e-6.
            let close =
                (got.parse::<f64>().unwrap() - want.parse::<f64>().unwrap()).abs() <= 1.01e-6;
            assert!(same || close, "{v}: {got} vs {want}");
        }
        let mut b = Vec::new();
        push_int(&mut b, 0);
        push_int(&mut b, 1234567890);
        assert_eq!(b, b"01234567890");
        let mut b = Vec::new();
        push_fixed6(&mut b, f64::NAN);
        assert_eq!(b, b"NaN");
    }
}
