/* losskit's native elementwise kernels: one pass over a float32 chunk that sums the loss terms and writes the
 * gradient, vectorised by the compiler (-O3 -march=native -fopenmp-simd -fno-trapping-math; no -ffast-math: NaN
 * and inf keep their IEEE behaviour). Every loop carries "omp simd": g may be x itself (inplace=True), which is
 * safe because each element is read before the same element is written. Built on first use by losskit/fused/_native/__init__.py and called through ctypes with
 * the GIL released, one call per chunk per thread; the math is the one of losskit/fused/pointwise.py, whose
 * torch-op kernels remain the reference and the fallback.
 *
 * Every function: x, y (input, target), g (gradient out, or NULL), n (elements), gs (gradient scale), and
 * options; it returns the chunk's sum of loss terms in double precision.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* exp(x) for float32: x = k ln2 + r, |r| <= ln2 / 2, a degree-7 polynomial for exp(r) (Cephes' expf
 * coefficients), 2^k from the exponent bits. Relative error about 1e-7; 0 below -87.33 (no subnormals), inf
 * above 88.72, NaN for NaN. */
static inline float lk_exp(float x) {
    const float hi = 88.72283905206835f, lo = -87.33654475055310f;
    float xc = x > hi ? hi : (x < lo ? lo : x);
    float k = floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - k * 0.693359375f;
    r = r + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale = {.i = ((int32_t)k + 127) << 23};
    float out = p * scale.f;
    out = x > hi ? INFINITY : out;
    out = x < lo ? 0.0f : out;
    return x != x ? x : out;
}

/* log(1 + e) for e in [0, 1]: 2 atanh(s), s = e / (2 + e) in [0, 1/3], by its series to s^13 (truncation below
 * 2e-8 relative). */
static inline float lk_log1p_unit(float e) {
    float s = e / (2.0f + e);
    float s2 = s * s;
    float p = 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

double lk_mse(const float *x, const float *y, float *g, int64_t n, float gs) {
    double acc = 0.0;
    float two = 2.0f * gs;
    if (g) {
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) {
            float d = x[i] - y[i];
            acc += (double)(d * d);
            g[i] = two * d;
        }
    } else {
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) {
            float d = x[i] - y[i];
            acc += (double)(d * d);
        }
    }
    return acc;
}

double lk_l1(const float *x, const float *y, float *g, int64_t n, float gs) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) {
        float d = x[i] - y[i];
        acc += (double)fabsf(d);
        if (g) g[i] = d > 0.0f ? gs : (d < 0.0f ? -gs : 0.0f); /* torch.sign: 0 for NaN */
    }
    return acc;
}

/* huber (divide = 1) and smooth L1 (delta = divide = beta): terms c (d - c/2) / divide, gradient c / divide,
 * c = clamp(d, -delta, delta) (NaN stays NaN) */
double lk_huber(const float *x, const float *y, float *g, int64_t n, float gs,
                float delta, float divide) {
    double acc = 0.0;
    float f = gs / divide;
    float inv = 1.0f / divide;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) {
        float d = x[i] - y[i];
        float c = d < -delta ? -delta : (d > delta ? delta : d);
        acc += (double)((c * (d - 0.5f * c)) * inv);
        if (g) g[i] = c * f;
    }
    return acc;
}

/* BCE with logits, t = y (1 - eps) + eps / 2: terms (1 - t) x + softplus(-x), gradient sigmoid(x) - t */
double lk_bce(const float *x, const float *y, float *g, int64_t n, float gs,
              float eps) {
    double acc = 0.0;
    float keep = 1.0f - eps, half = 0.5f * eps;
    if (g) {
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) {
            float xi = x[i];
            float t = y[i] * keep + half;
            float e = lk_exp(-fabsf(xi));
            float ce = (xi - t * xi) + ((xi < 0.0f ? -xi : 0.0f) + lk_log1p_unit(e)); /* + softplus(-x) */
            acc += (double)ce;
            float r = 1.0f / (1.0f + e);
            float sig = xi >= 0.0f ? r : e * r;
            g[i] = (sig - t) * gs;
        }
    } else {
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) {
            float xi = x[i];
            float t = y[i] * keep + half;
            float e = lk_exp(-fabsf(xi));
            acc += (double)((xi - t * xi) + ((xi < 0.0f ? -xi : 0.0f) + lk_log1p_unit(e)));
        }
    }
    return acc;
}

/* sigmoid focal loss (torchvision's), gamma 1 or 2, g required, alpha < 0 for no class balance: with s = sigmoid(x),
 * sn = sigmoid(-x) (both exact), ce = (1 - t) x + softplus(-x), u = lerp(s, sn, t), G = gs alpha_t u^(gamma-1),
 * F = G u: terms F ce / gs, gradient F (s - t) + gamma G s sn (1 - 2t) ce, with s - t formed as
 * -((t - 1) + sn). */
double lk_sigmoid_focal(const float *x, const float *y, float *g, int64_t n, float gs,
                        float eps, float alpha, int gamma) {
    double acc = 0.0;
    float keep = 1.0f - eps, half = 0.5f * eps;
    float a0 = alpha < 0.0f ? 1.0f : 1.0f - alpha, a1 = alpha < 0.0f ? 0.0f : 2.0f * alpha - 1.0f;
    float fg = (float)gamma;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) {
        float xi = x[i];
        float t = y[i] * keep + half;
        float e = lk_exp(-fabsf(xi));
        float sp_neg = (xi < 0.0f ? -xi : 0.0f) + lk_log1p_unit(e);
        float ce = (xi - t * xi) + sp_neg;
        float r = 1.0f / (1.0f + e);
        float er = e * r;
        float s = xi >= 0.0f ? r : er;
        float sn = xi >= 0.0f ? er : r;
        float u = t < 0.5f ? s + t * (sn - s) : sn - (sn - s) * (1.0f - t); /* torch.lerp's two forms */
        float at = (a0 + a1 * t) * gs;
        float gfac = gamma == 2 ? at * u : at;
        float f = gfac * u;
        acc += (double)(f * ce);
        float prod = s * sn * ce;
        prod = prod - 2.0f * prod * t;
        g[i] = -(((t - 1.0f) + sn) * f - fg * prod * gfac);
    }
    return gs != 0.0f ? acc / (double)gs : acc;
}

static inline float lk_sigmoid(float x) {
    float e = lk_exp(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

/* soft Dice, first sweep: p = sigmoid(x) written to p_out (which may be x itself), and sums[0] += sum p,
 * sums[1] += sum t, sums[2] += sum p t, as float partial sums over blocks of 1024 (8 lanes of 128 values each)
 * added up in double */
void lk_dice_sums(const float *x, const float *t, float *p_out, int64_t n, double *sums) {
    double sp = 0.0, st = 0.0, spt = 0.0;
    for (int64_t lo = 0; lo < n; lo += 1024) {
        int64_t hi = n - lo < 1024 ? n : lo + 1024;
        float bp = 0.0f, bt = 0.0f, bpt = 0.0f;
#pragma omp simd reduction(+ : bp, bt, bpt)
        for (int64_t i = lo; i < hi; i++) {
            float p = lk_sigmoid(x[i]), ti = t[i];
            p_out[i] = p;
            bp += p;
            bt += ti;
            bpt += p * ti;
        }
        sp += (double)bp;
        st += (double)bt;
        spt += (double)bpt;
    }
    sums[0] += sp;
    sums[1] += st;
    sums[2] += spt;
}

/* soft Dice, second sweep: g = (t ct + c1) p (1 - p), p read from g itself (the first sweep's p_out) */
void lk_dice_grad(const float *t, float *g, int64_t n, float ct, float c1) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float p = g[i];
        g[i] = (t[i] * ct + c1) * (p - p * p);
    }
}

/* one row of logits: m = max x, e_c = exp(x_c - m) written to g (which may be x), returns s = sum e (float partial
 * sums over blocks of 1024, added in double) */
static inline double lk_row_exp(const float *xr, float *gr, int64_t classes, float *max_out) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t c = 0; c < classes; c++) m = xr[c] > m ? xr[c] : m;
    double s = 0.0;
    for (int64_t lo = 0; lo < classes; lo += 1024) {
        int64_t hi = classes - lo < 1024 ? classes : lo + 1024;
        float bs = 0.0f;
#pragma omp simd reduction(+ : bs)
        for (int64_t c = lo; c < hi; c++) {
            float e = lk_exp(xr[c] - m);
            gr[c] = e;
            bs += e;
        }
        s += (double)bs;
    }
    *max_out = m;
    return s;
}

/* cross-entropy on class indices, float32 (rows, classes) logits, per row i: m = max x, e_c = exp(x_c - m) into g,
 * s = sum e (float partial sums over blocks of 1024, added in double), nlp_i = (m - x_y) + log s (-log p_y, with no
 * underflow of p_y) and, if lse is not NULL, lse_i = m + log s; then g = coef_i e / s, and at_target_i added at
 * the target's class. x may be g itself (inplace=True: x_y is read before the row is overwritten). */
void lk_ce_rows(const float *x, float *g, int64_t rows, int64_t classes, const int64_t *target, const float *coef,
                const float *at_target, float *nlp, float *lse) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * classes;
        float *gr = g + r * classes;
        int64_t y = target[r];
        float x_y = xr[y];
        float m;
        double s = lk_row_exp(xr, gr, classes, &m);
        nlp[r] = (float)((double)(m - x_y) + log(s));
        if (lse) lse[r] = (float)((double)m + log(s));
        float k = (float)((double)coef[r] / s);
#pragma omp simd
        for (int64_t c = 0; c < classes; c++) gr[c] *= k;
        gr[y] += at_target[r];
    }
}

/* softmax focal loss on class indices (Lin et al.), float32 (rows, classes) logits: the row loop of lk_ce_rows,
 * then, from lp = log p_y = -nlp, q = max(1 - p_y, tiny) (as -expm1(lp)) and
 * k = fs_i q^gamma (1 - gamma p_y lp / q) (fs_i: the row's class factor times the scale, 0 for ignored rows;
 * p log p taken as 0 where p_y = 0), the gradient g = k (p - onehot(y)). */
void lk_focal_rows(const float *x, float *g, int64_t rows, int64_t classes, const int64_t *target, const float *fs,
                   float gamma, float *nlp) {
    const float tiny = 1.17549435e-38f;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * classes;
        float *gr = g + r * classes;
        int64_t y = target[r];
        float x_y = xr[y];
        float m;
        double s = lk_row_exp(xr, gr, classes, &m);
        double lp = -((double)(m - x_y) + log(s));
        nlp[r] = (float)(-lp);
        double p_y = exp(lp);
        double q = -expm1(lp);
        if (q < tiny) q = tiny;
        double p_log_p = p_y > 0.0 ? p_y * lp : 0.0;
        double k = (double)fs[r] * pow(q, (double)gamma) * (1.0 - (double)gamma * p_log_p / q);
        float kk = (float)(k / s);
#pragma omp simd
        for (int64_t c = 0; c < classes; c++) gr[c] *= kk;
        gr[y] -= (float)k;
    }
}
