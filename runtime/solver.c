/* solver.c — the integrators: explicit Runge–Kutta tableaus, the step, the
 * error norm, the step-size controller, the initial step, dense output,
 * auto's switching between explicit and implicit, and the forward solve.
 * DESIGN.md §1, §4, §7.
 *
 * One generic stepper runs every tableau; the Rosenbrock methods' stages
 * come from rosenbrock.c and the ESDIRK method's (kvaerno4) from esdirk.c,
 * everything around them (control, dense output, switching) is the same
 * code.  Adaptive methods follow
 * torchdiffeq (rk_common.py, misc.py) so that step counts can be compared:
 *   - error ratio: RMS over components of err / (atol + rtol·max(|y0|,|y1|)),
 *     max over norm groups (one group forward; the adjoint uses groups to
 *     leave parameters out: the seminorm of Kidger, Chen & Lyons 2021);
 *   - accept when ratio <= 1; next step h·min(10, max(0.9·ratio^(-1/order),
 *     0.2)), never shrinking after an accepted step (_optimal_step_size);
 *   - first step from Hairer, Nørsett & Wanner, Solving ODEs I, §II.4
 *     (_select_initial_step);
 *   - dense output: the quartic through y0, y1, y(h/2), f0, f1, with
 *     y(h/2) from the method's continuous extension (_interp_fit), so output
 *     times never shorten steps.
 * Differences from torchdiffeq, on purpose: a step never passes the final
 * time (it is clipped to land on it, as in Hairer's codes and Diffrax);
 * tsit5 propagates its 5th-order solution (Tsitouras 2011 and Diffrax;
 * torchdiffeq's table carries the 4th-order one); non-finite trial states
 * count as rejections (h shrinks by 0.2) instead of raising.
 *
 * The step loop never allocates: rk_init allocates the stages and buffers.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* ---- tableaus ---- */

/* The tableaus keep the rows they are printed in (clang-format leaves them). */
/* clang-format off */
static const double euler_c[] = {0}, euler_a[] = {0}, euler_b[] = {1};

static const double mid_c[] = {0, 0.5}, mid_a[] = {0.5}, mid_b[] = {0, 1};

static const double rk4_c[] = {0, 0.5, 0.5, 1};
static const double rk4_a[] = {0.5, 0, 0.5, 0, 0, 1};
static const double rk4_b[] = {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6};

/* Bogacki & Shampine 1989, 3(2), FSAL; dense output by cubic Hermite
 * (torchdiffeq's y(h/2) = y0 + h/2·k_1 is only first-order accurate). */
static const double bs_c[] = {0, 0.5, 0.75, 1};
static const double bs_a[] = {0.5, 0, 0.75, 2.0 / 9, 1.0 / 3, 4.0 / 9};
static const double bs_b[] = {2.0 / 9, 1.0 / 3, 4.0 / 9, 0};
static const double bs_e[] = {2.0 / 9 - 7.0 / 24, 1.0 / 3 - 1.0 / 4,
                              4.0 / 9 - 1.0 / 3, -1.0 / 8};

/* Dormand & Prince 1980, 5(4), FSAL; dense output weights of Shampine 1986
 * at x = 1/2 as in torchdiffeq's DPS_C_MID. */
static const double dp5_c[] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
static const double dp5_a[] = {
    1.0 / 5,
    3.0 / 40, 9.0 / 40,
    44.0 / 45, -56.0 / 15, 32.0 / 9,
    19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729,
    9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656,
    35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84,
};
static const double dp5_b[] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192,
                               -2187.0 / 6784, 11.0 / 84, 0};
static const double dp5_e[] = {
    35.0 / 384 - 1951.0 / 21600, 0, 500.0 / 1113 - 22642.0 / 50085,
    125.0 / 192 - 451.0 / 720, -2187.0 / 6784 + 12231.0 / 42400,
    11.0 / 84 - 649.0 / 6300, -1.0 / 60,
};
static const double dp5_mid[] = {
    6025192743.0 / 30085553152 / 2, 0, 51252292925.0 / 65400821598 / 2,
    -2691868925.0 / 45128329728 / 2, 187940372067.0 / 1594534317056 / 2,
    -1776094331.0 / 19743644256 / 2, 11237099.0 / 235043384 / 2,
};

/* Tsitouras 2011, 5(4), FSAL.  mid: his continuous extension b_i(θ) at
 * θ = 1/2. */
static const double ts_c[] = {0, 0.161, 0.327, 0.9, 0.9800255409045096857298102862870245954942137979563024768854764293, 1, 1};
static const double ts_a[] = {
    0.161,
    -0.008480655492356988544426874250230774675121177393430391537369234245294192976164141156943,
    0.3354806554923569885444268742502307746751211773934303915373692342452941929761641411569,
    2.897153057105493432130432594192938764924887287701866490314866693455023795137503079289,
    -6.359448489975074843148159912383825625952700647415626703305928850207288721235210244366,
    4.362295432869581411017727318190886861027813359713760212991062156752264926097707165077,
    5.325864828439256604428877920840511317836476253097040101202360397727981648835607691791,
    -11.74888356406282787774717033978577296188744178259862899288666928009020615663593781589,
    7.495539342889836208304604784564358155658679161518186721010132816213648793440552049753,
    -0.09249506636175524925650207933207191611349983406029535244034750452930469056411389539635,
    5.861455442946420028659251486982647890394337666164814434818157239052507339770711679748,
    -12.92096931784710929170611868178335939541780751955743459166312250439928519268343184452,
    8.159367898576158643180400794539253485181918321135053305748355423955009222648673734986,
    -0.07158497328140099722453054252582973869127213147363544882721139659546372402303777878835,
    -0.02826905039406838290900305721271224146717633626879770007617876201276764571291579142206,
    0.09646076681806522951816731316512876333711995238157997181903319145764851595234062815396,
    0.01,
    0.4798896504144995747752495322905965199130404621990332488332634944254542060153074523509,
    1.379008574103741893192274821856872770756462643091360525934940067397245698027561293331,
    -3.290069515436080679901047585711363850115683290894936158531296799594813811049925401677,
    2.324710524099773982415355918398765796109060233222962411944060046314465391054716027841,
};
static const double ts_b[] = {
    0.09646076681806522951816731316512876333711995238157997181903319145764851595234062815396,
    0.01,
    0.4798896504144995747752495322905965199130404621990332488332634944254542060153074523509,
    1.379008574103741893192274821856872770756462643091360525934940067397245698027561293331,
    -3.290069515436080679901047585711363850115683290894936158531296799594813811049925401677,
    2.324710524099773982415355918398765796109060233222962411944060046314465391054716027841,
    0,
};
/* b − b̂, b̂ the embedded 4th-order weights. */
static const double ts_e[] = {
    0.001780011052225771443378550607539534775944678804333659557637450799792588061629796,
    0.0008164344596567469032236360633546862401862537590159047610940604670770447527463931,
    -0.007880878010261996010314727672526304238628733777103128603258129604952959142646516,
    0.144711007173262907537165147972635116720922712343167677619514233896760819649515,
    -0.5823571654525552250199376106520421794260781239567387797673045438803694038950012,
    0.4580821059291869466616365188325542974428047279788398179474684434732070620889539,
    -1.0 / 66,
};
#define TX 0.5
static const double ts_mid[] = {
    -1.0530884977290216 * TX * (TX - 1.3299890189751412) *
        (TX * TX - 1.4364028541716351 * TX + 0.7139816917074209),
    0.1017 * TX * TX * (TX * TX - 2.1966568338249754 * TX + 1.2949852507374631),
    2.490627285651252793 * TX * TX *
        (TX * TX - 2.38535645472061657 * TX + 1.57803468208092486),
    -16.54810288924490272 * (TX - 1.21712927295533244) *
        (TX - 0.61620406037800089) * TX * TX,
    47.37952196281928122 * (TX - 1.203071208372362603) *
        (TX - 0.658047292653547382) * TX * TX,
    -34.87065786149660974 * (TX - 1.2) * (TX - 2.0 / 3) * TX * TX,
    2.5 * (TX - 1) * (TX - 0.6) * TX * TX,
};
#undef TX

/* Prince & Dormand 1981, RK8(7)13M, with their rational coefficients, as in
 * torchdiffeq's dopri8; the 14th stage is f(t1, y1) (FSAL). */
static const double dp8_c[] = {
    0, 1.0 / 18, 1.0 / 12, 1.0 / 8, 5.0 / 16, 3.0 / 8, 59.0 / 400, 93.0 / 200,
    5490023248.0 / 9719169821, 13.0 / 20, 1201146811.0 / 1299019798, 1, 1, 1,
};
static const double dp8_a[] = {
    1.0 / 18,
    1.0 / 48, 1.0 / 16,
    1.0 / 32, 0, 3.0 / 32,
    5.0 / 16, 0, -75.0 / 64, 75.0 / 64,
    3.0 / 80, 0, 0, 3.0 / 16, 3.0 / 20,
    29443841.0 / 614563906, 0, 0, 77736538.0 / 692538347,
    -28693883.0 / 1125000000, 23124283.0 / 1800000000,
    16016141.0 / 946692911, 0, 0, 61564180.0 / 158732637,
    22789713.0 / 633445777, 545815736.0 / 2771057229, -180193667.0 / 1043307555,
    39632708.0 / 573591083, 0, 0, -433636366.0 / 683701615,
    -421739975.0 / 2616292301, 100302831.0 / 723423059,
    790204164.0 / 839813087, 800635310.0 / 3783071287,
    246121993.0 / 1340847787, 0, 0, -37695042795.0 / 15268766246,
    -309121744.0 / 1061227803, -12992083.0 / 490766935,
    6005943493.0 / 2108947869, 393006217.0 / 1396673457,
    123872331.0 / 1001029789,
    -1028468189.0 / 846180014, 0, 0, 8478235783.0 / 508512852,
    1311729495.0 / 1432422823, -10304129995.0 / 1701304382,
    -48777925059.0 / 3047939560, 15336726248.0 / 1032824649,
    -45442868181.0 / 3398467696, 3065993473.0 / 597172653,
    185892177.0 / 718116043, 0, 0, -3185094517.0 / 667107341,
    -477755414.0 / 1098053517, -703635378.0 / 230739211,
    5731566787.0 / 1027545527, 5232866602.0 / 850066563,
    -4093664535.0 / 808688257, 3962137247.0 / 1805957418,
    65686358.0 / 487910083,
    403863854.0 / 491063109, 0, 0, -5068492393.0 / 434740067,
    -411421997.0 / 543043805, 652783627.0 / 914296604,
    11173962825.0 / 925320556, -13158990841.0 / 6184727034,
    3936647629.0 / 1978049680, -160528059.0 / 685178525,
    248638103.0 / 1413531060, 0,
    14005451.0 / 335480064, 0, 0, 0, 0, -59238493.0 / 1068277825,
    181606767.0 / 758867731, 561292985.0 / 797845732,
    -1041891430.0 / 1371343529, 760417239.0 / 1151165299,
    118820643.0 / 751138087, -528747749.0 / 2220607170, 1.0 / 4,
};
static const double dp8_b[] = {
    14005451.0 / 335480064, 0, 0, 0, 0, -59238493.0 / 1068277825,
    181606767.0 / 758867731, 561292985.0 / 797845732,
    -1041891430.0 / 1371343529, 760417239.0 / 1151165299,
    118820643.0 / 751138087, -528747749.0 / 2220607170, 1.0 / 4, 0,
};
static const double dp8_e[] = {
    14005451.0 / 335480064 - 13451932.0 / 455176623, 0, 0, 0, 0,
    -59238493.0 / 1068277825 + 808719846.0 / 976000145,
    181606767.0 / 758867731 - 1757004468.0 / 5645159321,
    561292985.0 / 797845732 - 656045339.0 / 265891186,
    -1041891430.0 / 1371343529 + 3867574721.0 / 1518517206,
    760417239.0 / 1151165299 - 465885868.0 / 322736535,
    118820643.0 / 751138087 - 53011238.0 / 667516719,
    -528747749.0 / 2220607170 - 2.0 / 45, 1.0 / 4, 0,
};
/* The continuous extension: w_j(x) = Σ_m dp8_dense[j][m−1] x^m, m = 1..6,
 * so y(t0 + x·h) = y0 + h Σ_j w_j(x) k_j (torchdiffeq's C_mid polynomials,
 * which it evaluates only at x = 1/2 for a quartic fit). */
#define W6(c1, c2, c3, c4, c5) {0, c1, c2, c3, c4, c5}
static const double dp8_dense[14][6] = {
    {1, -6.6910181737837595697, 19.9990069333683970610, -30.0610568289666450593,
     22.1396504998094068976, -6.3448349392860401388},
    {0}, {0}, {0}, {0},
    W6(-7.6142658045872677172, 52.2273532792945524050, -121.4999627731334642623,
       116.4422149550342161651, -39.6107919852202505218),
    W6(10.7281392630428866124, -46.8919164181093621583, 83.1721004639847717481,
       -67.1451318825957197185, 20.3761213808791436958),
    W6(0.5526637063753648783, -0.1890893225010595467, 9.5724507555993664382,
       -16.5672243527496524646, 7.3347098826795362023),
    W6(4.2186562625665153803, -35.7075975946222072821, 87.8406057677205645007,
       -89.9916014847245016028, 32.8801774352459155182),
    W6(-0.6627209125361597559, 6.2736448083240352160, -17.4152107770762969005,
       22.6237489648532849093, -10.1588990526426760954),
    W6(-1.2636789001135462218, 10.3160881272450748458, -28.5903289514790976966,
       32.2362340167355370113, -12.5401268098782561200),
    W6(5.4106037898590422230, -34.7650769866611817349, 81.6630950584341412934,
       -82.1020315488359848644, 29.5553001484516038033),
    W6(-7.0321379067945741781, 47.7457971078225540396, -114.9375291377009418170,
       116.2662185791119533462, -41.7923486424390588923),
    W6(2.3537586759714983486, -19.0082099341608028453, 50.2558364226176017553,
       -53.9020777466385396792, 20.3006925822100825485),
};
#undef W6

static const rk_tab tabs[] = {
    {"euler", 1, 1, 0, 0, euler_c, euler_a, euler_b, NULL, NULL, NULL, NULL, NULL},
    {"midpoint", 2, 2, 0, 0, mid_c, mid_a, mid_b, NULL, NULL, NULL, NULL, NULL},
    {"rk4", 4, 4, 0, 0, rk4_c, rk4_a, rk4_b, NULL, NULL, NULL, NULL, NULL},
    {"bosh3", 4, 3, 1, 1, bs_c, bs_a, bs_b, bs_e, NULL, NULL, NULL, NULL},
    {"dopri5", 7, 5, 1, 1, dp5_c, dp5_a, dp5_b, dp5_e, dp5_mid, NULL, NULL, NULL},
    {"tsit5", 7, 5, 1, 1, ts_c, ts_a, ts_b, ts_e, ts_mid, NULL, NULL, NULL},
    {"dopri8", 14, 8, 1, 1, dp8_c, dp8_a, dp8_b, dp8_e, NULL, dp8_dense, NULL, NULL},
    /* rows of k: F(t0, y0) and the 6 or 8 stages (rosenbrock.c) */
    {"rodas4", 7, 4, 1, 0, NULL, NULL, NULL, NULL, NULL, NULL, &ros_rodas4, NULL},
    {"rodas5p", 9, 5, 1, 0, NULL, NULL, NULL, NULL, NULL, NULL, &ros_rodas5p, NULL},
};
/* clang-format on */

const rk_tab *rk_tableau(nodec_method m) {
    if (m == NODEC_KVAERNO4) return &esd_kvaerno4; /* esdirk.c */
    return &tabs[m == NODEC_AUTO ? NODEC_DOPRI5 : m];
}

/* auto's two methods. */
#define AUTO_EXPLICIT NODEC_DOPRI5
#define AUTO_STIFF NODEC_RODAS5P

/* ---- the integrator ---- */

/* One block: the stages (rows), y, yprev, ytmp, ynew; for the implicit
 * methods also ∂F/∂t, J, W's LU and its pivots — but for kvaerno4's GMRES
 * path, which forms no n × n matrix: O(n) memory for large states, its
 * Krylov basis (esd_init) instead of 2·B·n_state² doubles. */
int rk_init(rk *r, nodec_solver *s, const rk_tab *tab, rk_ode *o, nodec_pass_stats *st, const char *pass) {
    size_t n = (size_t)o->n, nj = 0;
    int rows = tab->s, ros = RK_IMPLICIT(tab), kry = 0, rc;
    memset(r, 0, sizeof *r);
    r->s = s;
    r->tab = tab;
    r->o = o;
    r->adaptive = tab->adaptive;
    r->st = st;
    r->pass = pass;
    r->xs = &s->xs[strcmp(pass, "backward") == 0];
    if (s->method == NODEC_AUTO) {
        /* a state too large for a dense Jacobian (esd_krylov): kvaerno4 on
         * GMRES, since a Rosenbrock method needs W's LU */
        r->expl = &tabs[AUTO_EXPLICIT];
        r->stiff = o->jac && esd_krylov(s, o) ? &esd_kvaerno4 : &tabs[AUTO_STIFF];
        rows = r->expl->s > r->stiff->s ? r->expl->s : r->stiff->s;
        ros = 1;
    }
    if (ros) {
        long nx = (long)o->nblk * o->blk;
        if (!o->jac || nx < 1 || nx > o->n || (nx < o->n && !o->jvq))
            return nodec__fail(s, NODEC_ILL_INPUT,
                               "internal: implicit method on a system without "
                               "a Jacobian (%s pass)",
                               pass);
        nj = (size_t)nx * o->blk;
        if ((tab->esd || (r->stiff && r->stiff->esd)) && esd_krylov(s, o)) nj = 0, kry = 1;
    }
    r->bytes = ((rows + 4 + 2 * ros) * n + 2 * nj) * sizeof(double) + (nj ? (size_t)o->nblk * o->blk * sizeof(int) : 0);
    r->k = mem_alloc(&s->mem, r->bytes);
    if (!r->k) return nodec__fail(s, NODEC_MEM_FAIL, "out of memory");
    r->y = r->k + rows * n;
    r->yprev = r->y + n;
    r->ytmp = r->yprev + n;
    r->ynew = r->ytmp + n;
    if (ros) {
        r->ft = r->ynew + n;
        r->yd = r->ft + n;
    }
    if (nj) {
        r->J = r->yd + n;
        r->LU = r->J + nj;
        r->piv = (int *)(r->LU + nj);
    }
    if (kry && (rc = esd_init(r))) {
        rk_release(r);
        return rc;
    }
    return NODEC_SUCCESS;
}

void rk_release(rk *r) {
    if (r->kry) esd_release(r);
    if (r->k) mem_free(&r->s->mem, r->k, r->bytes);
    r->k = NULL;
}

void rk_use(rk *r, const rk_tab *tab) {
    int n = r->o->n;
    if (tab == r->tab) return;
    if (r->kstate == 2) { /* the FSAL row is the old tableau's last */
        memcpy(r->k, r->k + (size_t)(r->tab->s - 1) * n, n * sizeof(double));
        r->kstate = 1;
    }
    r->tab = tab;
}

void rk_restart(rk *r) {
    r->kstate = 0;
    r->jok = r->jkeep = 0;
}

/* torchdiffeq's _optimal_step_size with safety 0.9, ifactor 10, dfactor 0.2. */
static double optimal_step(double h, double ratio, int order) {
    const double safety = 0.9, ifactor = 10.0;
    double dfactor = 0.2, factor;
    if (ratio == 0) return h * ifactor;
    if (ratio < 1) dfactor = 1.0;
    factor = safety / pow(ratio, 1.0 / order);
    if (factor < dfactor) factor = dfactor;
    if (factor > ifactor) factor = ifactor;
    return h * factor;
}

int rk_ensure_k0(rk *r) {
    int n = r->o->n, rc;
    if (r->kstate == 1) return NODEC_SUCCESS;
    /* ∂F/∂y belongs with k_0, and an old one does not serve across a
     * restart or a breakpoint */
    r->jok = 0;
    if (r->kstate == 0) r->jkeep = 0;
    if (r->kstate == 2) {
        memcpy(r->k, r->k + (size_t)(r->tab->s - 1) * n, n * sizeof(double));
    } else if ((rc = r->o->rhs(r->o, r->t, r->y, r->k))) {
        return rc;
    }
    r->kstate = 1;
    if (!rk_all_finite(r->k, n))
        return nodec__fail(r->s, NODEC_NONFINITE,
                           "the derivative is not finite at t = %.6g (%s pass): "
                           "check the parameters and the state for NaN/Inf or "
                           "overflow",
                           r->t, r->pass);
    return NODEC_SUCCESS;
}

/* Stages of one step of size h from (t, y) to t1 = t + h; ynew gets y1;
 * *ratio the error ratio when adaptive.  Ys, when set, receives the stage
 * inputs Y_j (s × n), which the direct gradient needs. */
static int trial(rk *r, double h, double t1, double *ratio, double *Ys) {
    const rk_tab *tb = r->tab;
    int n = r->o->n, s = tb->s, rc;
    double *k = r->k;

    if (tb->esd) { /* esdirk.c */
        if ((rc = esd_stages(r, h, t1))) return rc;
        *ratio = r->adaptive ? rk_norm(r, r->ytmp, r->y, r->ynew) : 0;
        if (r->adaptive && r->dense_check && *ratio <= 1) { /* as below */
            double dr;
            if ((rc = esd_dense_error(r, h))) return rc;
            dr = rk_norm(r, r->yd, r->y, r->ynew);
            if (!(dr <= *ratio)) *ratio = dr;
        }
        return NODEC_SUCCESS;
    }
    if (tb->ros) {
        if ((rc = ros_stages(r, h, t1))) return rc;
        *ratio = r->adaptive ? rk_norm(r, r->ytmp, r->y, r->ynew) : 0;
        /* The stiff components' error at the step's end is damped, so
         * steps grow long where the solution is smooth; the dense output
         * in between is of lower order and would go unchecked. */
        if (r->adaptive && r->dense_check && *ratio <= 1) {
            double dr;
            if ((rc = ros_dense_error(r, h))) return rc;
            dr = rk_norm(r, r->yd, r->y, r->ynew);
            if (!(dr <= *ratio)) *ratio = dr;
        }
        return NODEC_SUCCESS;
    }
    if (Ys) memcpy(Ys, r->y, n * sizeof(double));
    for (int i = 1; i < s; i++) {
        double *Y = (tb->fsal && i == s - 1) ? r->ynew : r->ytmp;
        double ti = tb->c[i] == 1 ? t1 : r->t + tb->c[i] * h;
        rk_combine(Y, r->y, h, &RK_A(tb, i, 0), k, i, n);
        if (Ys) memcpy(Ys + (size_t)i * n, Y, n * sizeof(double));
        if ((rc = r->o->rhs(r->o, ti, Y, k + (size_t)i * n))) return rc;
    }
    if (!tb->fsal) rk_combine(r->ynew, r->y, h, tb->b, k, s, n);
    *ratio = 0;
    if (r->adaptive) {
        rk_combine(r->ytmp, NULL, h, tb->e, k, s, n);
        *ratio = rk_norm(r, r->ytmp, r->y, r->ynew);
    }
    return NODEC_SUCCESS;
}

static void accept(rk *r, double h, double t1) {
    double *tmp = r->yprev;
    r->tprev = r->t;
    r->hlast = h;
    r->t = t1;
    r->yprev = r->y;
    r->y = r->ynew;
    r->ynew = tmp;
    /* on a breakpoint the next step's k_0 is F on its own piece (hold and
     * ddt(u) jump there) */
    r->kstate = r->tab->fsal && !inp_is_break(r->s, t1) ? 2 : 0;
    if (r->tab->esd) esd_accepted(r);
    r->jok = 0;
    r->st->steps++;
    r->xs->method = r->tab == &esd_kvaerno4 ? NODEC_KVAERNO4 : (int)(r->tab - tabs);
    if (RK_IMPLICIT(r->tab)) r->xs->stiff_steps++;
}

/* A step of exactly h, accepted whatever the error (fixed grids, replays). */
int rk_take(rk *r, double h, double t1, double *Ys) {
    double ratio;
    int rc;
    if (++r->attempts > r->s->max_steps)
        return nodec__fail(r->s, NODEC_TOO_MUCH_WORK,
                           "reached the step limit (max_steps = %ld) at t = %.6g "
                           "(%s pass): raise max_steps or use a larger step",
                           r->s->max_steps, r->t, r->pass);
    inp_span(r->s, r->t, t1, 0);
    if ((rc = rk_ensure_k0(r)) || (rc = trial(r, h, t1, &ratio, Ys)))
        return rc == ROS_SINGULAR ? ros_singular_fail(r, h) : rc == ESD_NEWTON ? esd_newton_fail(r, h) : rc;
    if (!rk_all_finite(r->ynew, r->o->n))
        return nodec__fail(r->s, NODEC_NONFINITE,
                           "the state became non-finite in the step from t = %.6g "
                           "to %.6g (%s pass): the solution may blow up; use a "
                           "smaller step or a shorter time span",
                           r->t, t1, r->pass);
    accept(r, h, t1);
    return NODEC_SUCCESS;
}

/* auto: after each accepted step, is the problem stiff here?
 *
 * Explicit steps: Hairer's test of DOPRI5 (Hairer & Wanner, Solving ODEs
 * II §IV.2 and dopri5.f): hλ ≈ h‖k7 − k6‖/‖y1 − Y6‖ from the two stages
 * evaluated at t1, with Y6 − y1 = h Σ_j (a_6j − b_j) k_j formed from the
 * stages.  A large reading says the step is at dopri5's stability boundary
 * (hλ ≈ 3.3 on the real axis), not at its accuracy limit: an accurate step
 * at any rtol ≤ 1e-3 has hλ well below 1 on the modes it resolves.
 * dopri5.f counts readings above 3.25; under the I-controller here dopri5
 * settles at readings of 2.6–3.3 on Robertson's problem, so readings ≥ 2
 * count.  15 of them (6 below in a row start the count again) switch to
 * the implicit method.  dopri5.f tests every 1000th step until a first
 * stiff reading; auto tests every step.
 *
 * Implicit steps: the problem is non-stiff where the next step h times
 * ‖∂F/∂y‖∞ (≥ the spectral radius) is at most 2, within dopri5's stability
 * region with margin; 6 such steps in a row switch back.  On the GMRES
 * path (a large state: auto's stiff method is kvaerno4 there, esd_krylov)
 * there is no ∂F/∂y to bound: once stiff, auto stays.  The switch takes
 * effect at the next attempt (dense output still needs this step's
 * tableau). */
static void detect_stiffness(rk *r, double h) {
    const rk_tab *tb = r->tab, *to = NULL;
    int n = r->o->n;
    if (!RK_IMPLICIT(tb)) {
        int s = tb->s;
        const double *kl = r->k + (size_t)(s - 1) * n, *km = r->k + (size_t)(s - 2) * n;
        double num = 0, den = 0;
        for (int p = 0; p < n; p++) {
            double dy = 0;
            for (int j = 0; j <= s - 2; j++)
                dy += (RK_A(tb, s - 1, j) - (j < s - 2 ? RK_A(tb, s - 2, j) : 0)) * r->k[(size_t)j * n + p];
            num += (kl[p] - km[p]) * (kl[p] - km[p]);
            den += h * dy * h * dy;
        }
        if (den > 0 && fabs(h) * sqrt(num / den) >= 2.0) {
            r->nnonstiff = 0;
            if (++r->nstiff >= 15) to = r->stiff;
        } else if (++r->nnonstiff >= 6) {
            r->nstiff = 0;
        }
    } else if (r->J && fabs(r->h) * ros_jac_norm(r) <= 2) { /* (the GMRES path has no J: it stays) */
        if (++r->nnonstiff >= 6) to = r->expl;
    } else {
        r->nnonstiff = 0;
    }
    if (to) {
        r->next = to;
        r->nstiff = r->nnonstiff = 0;
        r->xs->switches++;
    }
}

/* A step from t by h reaches stop, or would end a few ulps short of it
 * (then it is stretched onto stop rather than leave a step of roundoff
 * size after it). */
static int reaches(double t, double h, double stop) {
    double slack = 8 * DBL_EPSILON * fabs(stop);
    return h > 0 ? t + h >= stop - slack : t + h <= stop + slack;
}

int rk_attempt(rk *r, double t_end, int *accepted) {
    nodec_solver *s = r->s;
    double h, t1, ratio, tb;
    int clipped = 0, ok, rc;
    /* (the backward pass's failures get their hint from adjoint.c) */
    const char *tail = RK_IMPLICIT(r->tab) || strcmp(r->pass, "forward") != 0 ? ", or use a shorter time span"
                                                                              : ", use a shorter time span, or, if the "
                                                                                "problem is stiff, an implicit method "
                                                                                "(auto, rodas5p, rodas4, kvaerno4)";

    *accepted = 0;
    if (r->next) {
        rk_use(r, r->next);
        r->next = NULL;
    }
    h = r->h;
    if (r->attempts >= s->max_steps)
        return nodec__fail(s, NODEC_TOO_MUCH_WORK,
                           "reached the step limit (max_steps = %ld) at t = %.6g "
                           "on the way to t = %.6g (%s pass, steps of %.3g): "
                           "%sraise max_steps, loosen rtol/atol%s",
                           s->max_steps, r->t, t_end, r->pass, fabs(r->h),
                           RK_IMPLICIT(r->tab) ? ""
                                               : "if the dynamics are stiff or "
                                                 "change fast, explicit methods need tiny steps; ",
                           tail);
    /* Roundoff apart already (two stops a few ulps from each other, as an
     * observation time next to a step end): arrive without a step. */
    if (fabs(t_end - r->t) <= 8 * DBL_EPSILON * fmax(fabs(t_end), fabs(r->t))) {
        r->t = t_end;
        return NODEC_SUCCESS;
    }
    if ((t_end - r->t) * h <= 0) /* h points away: the caller's misuse */
        h = t_end - r->t;
    /* Clip onto t_end, and onto an inputs' breakpoint before it (CVODES's
     * tstop), stretching a step that would stop a few ulps short of one. */
    if (reaches(r->t, h, t_end)) h = t_end - r->t, clipped = 1;
    t1 = clipped ? t_end : r->t + h;
    if (inp_next_break(s, r->t, h > 0 ? 1 : -1, &tb) && (t_end - tb) * h > 0 && reaches(r->t, h, tb))
        h = tb - r->t, t1 = tb, clipped = 1;
    if (fabs(h) < s->min_step || t1 == r->t || fabs(h) <= 4 * DBL_EPSILON * fabs(r->t))
        return nodec__fail(s, NODEC_STEP_UNDERFLOW,
                           "step size underflow at t = %.6g (%s pass, h = %.3g): "
                           "the dynamics may be stiff or blowing up; loosen "
                           "rtol/atol%s",
                           r->t, r->pass, fabs(h), tail);
    inp_span(s, r->t, t1, 0);
    rc = rk_ensure_k0(r);
    if (rc == 0) rc = trial(r, h, t1, &ratio, NULL);
    if (rc == ROS_SINGULAR) { /* as rodas.f: halve h, five times at most */
        r->attempts++;
        r->st->rejected++;
        if (++r->nsing >= 5) return ros_singular_fail(r, h);
        r->h = h * 0.5;
        return NODEC_SUCCESS;
    }
    if (rc == ESD_NEWTON) { /* the Newton iteration failed: halve h (radau5) */
        r->attempts++;
        r->st->rejected++;
        r->h = h * 0.5;
        return NODEC_SUCCESS;
    }
    if (rc) return rc;
    r->attempts++;
    ok = ratio <= 1 && rk_all_finite(r->ynew, r->o->n);
    if (ok) {
        accept(r, h, t1);
        *accepted = 1;
    } else {
        r->st->rejected++;
    }
    if (!isfinite(ratio) || (!ok && ratio <= 1)) {
        r->h = h * 0.2; /* non-finite trial: shrink as hard as allowed */
    } else {
        double hn = optimal_step(h, ratio, r->tab->order);
        /* A step clipped to hit a time says nothing against the step
         * before it: keep that one if it was larger. */
        if (!(ok && clipped && fabs(hn) < fabs(r->h))) r->h = hn;
        if (ok && r->tab->esd) r->h = esd_next_step(r, h, r->h);
    }
    if (ok && r->autoswitch) detect_stiffness(r, h);
    return NODEC_SUCCESS;
}

int rk_initial_step(rk *r, double dir, double *hout) {
    int n = r->o->n, rc;
    double d0, d1, d2, h0, h1, *f0, *f1 = r->ytmp, *y1 = r->ynew;

    inp_span(r->s, r->t, r->t, dir > 0 ? 1 : -1); /* the piece from t toward dir */
    if ((rc = rk_ensure_k0(r))) return rc;
    f0 = r->k;
    d0 = rk_norm(r, r->y, r->y, NULL);
    d1 = rk_norm(r, f0, r->y, NULL);
    h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    for (int p = 0; p < n; p++) y1[p] = r->y[p] + dir * h0 * f0[p];
    /* f1 goes to ytmp; y1 is scratch in ynew. */
    if ((rc = r->o->rhs(r->o, r->t + dir * h0, y1, f1))) return rc;
    for (int p = 0; p < n; p++) y1[p] = f1[p] - f0[p];
    d2 = rk_norm(r, y1, r->y, NULL) / h0;
    if (d1 <= 1e-15 && d2 <= 1e-15)
        h1 = fmax(1e-6, h0 * 1e-3);
    else
        h1 = pow(0.01 / fmax(d1, d2), 1.0 / r->tab->order);
    if (!isfinite(h1)) h1 = 100 * h0;
    *hout = dir * fmin(100 * h0, h1);
    return NODEC_SUCCESS;
}

/* ---- dense output ---- */

/* W[j][m−1], m = 1..6: w_j(x) = Σ_m W[j][m−1] x^m.  Quartic through y0, y1,
 * y(1/2), f0, f1 when the tableau has y(1/2) weights (torchdiffeq's
 * _interp_fit: for dopri5 and tsit5 it is their own 4th-order continuous
 * extension); cubic Hermite through y0, y1, f0, f1 = k_{s-1} otherwise
 * (FSAL tableaus only). */
void rk_dense_coefs(const rk_tab *tb, double (*W)[6]) {
    int s = tb->s;
    if (tb->ros) {
        ros_dense_coefs(tb->ros, W);
        return;
    }
    if (tb->dense) {
        memcpy(W, tb->dense, (size_t)s * sizeof *W);
        return;
    }
    for (int j = 0; j < s; j++) {
        double b = tb->b[j], m = tb->mid ? tb->mid[j] : 0;
        W[j][0] = 0;
        W[j][4] = W[j][5] = 0;
        if (tb->mid) {
            W[j][1] = -5 * b + 16 * m;
            W[j][2] = 14 * b - 32 * m;
            W[j][3] = -8 * b + 16 * m;
        } else {
            W[j][1] = 3 * b;
            W[j][2] = -2 * b;
            W[j][3] = 0;
        }
    }
    if (tb->mid) {
        W[0][0] += 1, W[0][1] += -4, W[0][2] += 5, W[0][3] += -2;
        W[s - 1][1] += 1, W[s - 1][2] += -3, W[s - 1][3] += 2;
    } else {
        W[0][0] += 1, W[0][1] += -2, W[0][2] += 1;
        W[s - 1][1] += -1, W[s - 1][2] += 1;
    }
}

void rk_dense_weights(const rk_tab *tb, double x, double *w, double *dw) {
    double W[16][6];
    rk_dense_coefs(tb, W);
    for (int j = 0; j < tb->s; j++) {
        double v = 0, d = 0;
        for (int m = 6; m >= 1; m--) {
            v = v * x + W[j][m - 1];
            d = d * x + m * W[j][m - 1];
        }
        w[j] = v * x;
        if (dw) dw[j] = d;
    }
}

void rk_dense_eval(const rk *r, double x, double *out) {
    double w[16];
    int n = r->o->n, s = r->tab->s;
    rk_dense_weights(r->tab, x, w, NULL);
    for (int p = 0; p < n; p++) {
        double acc = 0;
        for (int j = 0; j < s; j++) acc += w[j] * r->k[(size_t)j * n + p];
        out[p] = r->yprev[p] + (r->tab->ros ? acc : r->hlast * acc);
    }
}

/* ---- the forward problem ---- */

int fwd_rhs(rk_ode *o, double t, const double *y, double *dy) {
    fwd_ode *fo = (fwd_ode *)o;
    par_f(fo->s, fo->B, t, y, fo->theta, dy);
    fo->st->f_evals++;
    return NODEC_SUCCESS;
}

void fwd_jac_z(nodec_solver *s, const double *theta, int B, double t, const double *z, double *J) {
    par_jac_z(s, theta, B, t, z, J);
}

static int fwd_jac(rk_ode *o, double t, const double *y, double *J) {
    fwd_ode *fo = (fwd_ode *)o;
    fwd_jac_z(fo->s, fo->theta, fo->B, t, y, J);
    return NODEC_SUCCESS;
}

/* ∂f/∂z · v by the model's emitted JVP (the Newton–Krylov path). */
static int fwd_jvp(rk_ode *o, double t, const double *y, const double *v, double *out) {
    fwd_ode *fo = (fwd_ode *)o;
    par_jvp(fo->s, fo->B, t, y, fo->theta, v, out);
    return NODEC_SUCCESS;
}

void fwd_ode_init(fwd_ode *fo, nodec_solver *s, const double *theta, int B, nodec_pass_stats *st) {
    memset(fo, 0, sizeof *fo);
    fo->o.n = B * s->m->n_state;
    fo->o.rhs = fwd_rhs;
    fo->o.ngroup = 1;
    fo->o.glen[0] = fo->o.n;
    fo->o.nblk = B;
    fo->o.blk = s->m->n_state;
    fo->o.autonomous = !s->m->uses_t;
    fo->o.jac = fwd_jac;
    if (s->m->inputs ? s->m->inputs->jvp != NULL : s->m->jvp != NULL) fo->o.jvp = fwd_jvp;
    fo->s = s;
    fo->theta = theta;
    fo->B = B;
    fo->st = st;
}

int fwd_is_fixed(const nodec_solver *s) {
    return !rk_tableau(s->method)->adaptive || s->fixed_h > 0 || s->num_steps > 0;
}

double fwd_fixed_h(const nodec_solver *s, int n_times, const double *t) {
    if (s->fixed_h > 0) return s->fixed_h;
    return fabs(t[n_times - 1] - t[0]) / (double)s->num_steps;
}

long rk_grid_steps(double len, double h) {
    double m = ceil(fabs(len) / h - 1e-9);
    return m < 1 ? 1 : (long)m;
}

/* Fixed grids: interval i is split into m equal steps, step j starting at
 * t_i + j·(t_i+1 − t_i)/m, so every output time is a step end.  Adaptive:
 * steps run to t_N (the last one clipped onto it); outputs in between come
 * from dense output. */
int fwd_solve(nodec_solver *s, const double *theta, int B, const double *z0, int n_times, const double *t,
              double *z_out, fwd_hook *hook, nodec_pass_stats *st) {
    fwd_ode fo;
    rk r;
    long nz = (long)B * s->m->n_state;
    int rc, i;

    fwd_ode_init(&fo, s, theta, B, st);
    if ((rc = rk_init(&r, s, rk_tableau(s->method), &fo.o, st, "forward"))) return rc;
    r.t = t[0];
    memcpy(r.y, z0, nz * sizeof(double));
    memcpy(z_out, z0, nz * sizeof(double));
    if (fwd_is_fixed(s)) {
        double H = fwd_fixed_h(s, n_times, t);
        r.adaptive = 0;
        for (i = 0; i + 1 < n_times && rc == 0; i++) {
            long m = rk_grid_steps(t[i + 1] - t[i], H);
            double hs = (t[i + 1] - t[i]) / m;
            for (long j = 0; j < m && rc == 0; j++) {
                r.t = t[i] + j * hs;
                rc = rk_take(&r, hs, j == m - 1 ? t[i + 1] : t[i] + (j + 1) * hs, NULL);
                if (rc == 0 && hook) rc = hook->step(hook, &r, i, j, m);
            }
            if (rc == 0) memcpy(z_out + (i + 1) * nz, r.y, nz * sizeof(double));
        }
        rk_release(&r);
        return rc;
    }
    if (n_times > 1) {
        double dir = t[n_times - 1] > t[0] ? 1 : -1;
        r.autoswitch = s->method == NODEC_AUTO;
        r.dense_check = 1;
        if (s->first_step > 0)
            r.h = dir * s->first_step;
        else
            rc = rk_initial_step(&r, dir, &r.h);
        i = 1;
        while (i < n_times && rc == 0) {
            int acc;
            if ((rc = rk_attempt(&r, t[n_times - 1], &acc))) break;
            if (!acc) {
                if (r.t == t[n_times - 1]) /* arrived without a step */
                    for (; i < n_times; i++) memcpy(z_out + (long)i * nz, r.y, nz * sizeof(double));
                continue;
            }
            if (hook && (rc = hook->step(hook, &r, -1, 0, 0))) break;
            /* Outputs in (tprev, t]; t_N is the clipped step's end itself. */
            for (; i < n_times && (t[i] - r.t) * dir <= 0; i++) {
                if (i == n_times - 1)
                    memcpy(z_out + (long)i * nz, r.y, nz * sizeof(double));
                else
                    rk_dense_eval(&r, (t[i] - r.tprev) / r.hlast, z_out + (long)i * nz);
            }
        }
    }
    rk_release(&r);
    return rc;
}
