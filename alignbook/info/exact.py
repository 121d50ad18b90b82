"""Information quantities of discrete joints: entropy, mutual information, Bayes accuracy and the BROJA PID.

Everything is in nats unless `base=2` is asked for. Joints are numpy arrays of probabilities: `p[x, y]` for
two variables, `p[x1, x2, y]` for the partial information decomposition (PID). `estimate_pid` discretises
continuous, high-dimensional samples of two modalities so that the same exact machinery applies
(`alignbook.info.estimate`).

The PID is the one of Bertschinger, Rauh, Olbrich, Jost and Ay (2014, "BROJA"):
`Q* = argmin I_Q(X1,X2;Y)` over the distributions `Q` that share `p`'s marginals `p(x1,y)` and `p(x2,y)`, then
`U1 = I_Q*(X1;Y|X2)`, `U2 = I_Q*(X2;Y|X1)`, `R = I(X1;Y) - U1`, `S = I(X1,X2;Y) - I_Q*(X1,X2;Y)`.

Why not iterative proportional fitting: scaling any start onto the two marginal constraints returns the
maximum-entropy member of the constraint set, `p(y) p(x1|y) p(x2|y)`, which is not the minimiser of
`I_Q(X1,X2;Y)` (on `y = x1 AND x2` it gives `I_Q = 0.541` bits where the minimum is `0.311`). Nor is the
alternating minimisation "replace Q by Q(x1,x2), scale back onto the constraints" (a Blahut-Arimoto scheme
that does converge) usable: its error decays like 1/iterations when `Q*` has zeros, as it has for AND.
`broja_optimum` therefore solves the convex problem by a primal log-barrier interior-point method and
certifies the answer with a primal-dual gap (the dual is derived in `broja_optimum`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from alignbook.checks import check_positive_int, fail, to_numpy

JOINT_TOLERANCE = 1e-6  # how far from 1 a joint's total may be
STALL_ROUNDS = 2  # barrier rounds in a row without a better certified gap before the solver gives up


class PIDConvergenceError(RuntimeError):
    """The PID optimisation did not certify its answer to the requested tolerance."""


# ----------------------------------------------------------------------------------------------------------
# validation and elementary quantities


def check_joint(p, ndim: int, param: str = "p") -> np.ndarray:
    """Return `p` as a float64 array after checking it is an `ndim`-dimensional probability table."""
    array = to_numpy(param, p)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        fail(param, f"must be a real numeric array, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if array.ndim != ndim:
        fail(param, f"must be a {ndim}-dimensional joint distribution, got shape {array.shape}")
    if array.size == 0:
        fail(param, "is empty")
    if not np.all(np.isfinite(array)):
        fail(param, "contains NaN or infinite entries")
    if array.min() < 0:
        fail(param, f"has negative entries (smallest {array.min():.3g})", "probabilities must be >= 0")
    total = float(array.sum())
    if abs(total - 1) > JOINT_TOLERANCE:
        fail(param, f"must sum to 1 (within {JOINT_TOLERANCE}), sums to {total:.9g}", "normalise it first")
    return array


def log_base(base) -> float:
    """The natural log of the unit `base` ("e" or a number > 0 other than 1): nats are divided by it."""
    if isinstance(base, str) and base == "e":
        return 1.0
    if isinstance(base, (int, float)) and not isinstance(base, bool) and base > 0 and base != 1:
        return math.log(base)
    fail("base", f"must be 'e' or a number > 0 other than 1 (2 for bits), got {base!r}")


def _plogp_sum(p: np.ndarray, axis=None) -> np.ndarray:
    """sum of p log p, with 0 log 0 = 0."""
    safe = np.where(p > 0, p, 1.0)
    return (p * np.log(safe)).sum(axis=axis)


def _xlogx_over(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """p log(p / q) elementwise, 0 where p = 0 (q is assumed > 0 wherever p > 0)."""
    positive = p > 0
    ratio = np.where(positive, p, 1.0) / np.where(positive, q, 1.0)
    return np.where(positive, p * np.log(ratio), 0.0)


def entropy(p, base="e") -> float:
    """Shannon entropy of a distribution of any shape (the joint entropy of all its axes)."""
    array = to_numpy("p", p)
    array = check_joint(array, max(array.ndim, 1))
    return float(-_plogp_sum(array) / log_base(base))


def mutual_information(p_xy, base="e") -> float:
    """I(X;Y) of a 2-D joint `p_xy[x, y]`."""
    p = check_joint(p_xy, 2, "p_xy")
    return _mutual_information(p) / log_base(base)


def _mutual_information(p: np.ndarray) -> float:
    product = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
    return float(_xlogx_over(p, product).sum())


def bayes_accuracy(p_xy) -> float:
    """Accuracy of the best classifier of Y from X: sum over x of max_y p(x, y)."""
    p = check_joint(p_xy, 2, "p_xy")
    return float(p.max(axis=1).sum())


# ----------------------------------------------------------------------------------------------------------
# the BROJA optimisation


@dataclass
class BrojaSolution:
    """The minimiser `q[x1, x2, y]` of I_Q(X1,X2;Y) on the marginal-constraint set, with its certificate.

    `value` is I_q(X1,X2;Y) (nats) of the returned, exactly feasible `q`; the true minimum lies in
    [`lower_bound`, `value`], so `gap = value - lower_bound` bounds the error. `iterations` counts Newton
    steps, `outer_iterations` barrier rounds.
    """

    q: np.ndarray
    value: float
    lower_bound: float
    gap: float
    iterations: int
    outer_iterations: int
    converged: bool
    history: list = field(default_factory=list)


def _round_to_marginals(q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Make q[..., x1, x2, y] meet the marginals a[..., x1, y], b[..., x2, y] exactly.

    Per y this is the rounding step of Altschuler, Weed and Rigollet (2017): scale rows, then columns, down to
    at most their target, then add the rank-one correction of the remaining deficits. New mass only lands
    where both targets are positive, so the support rules of the constraint set are kept.
    """
    rows = q.sum(-2)
    q = q * np.minimum(1.0, np.divide(a, rows, out=np.zeros_like(a), where=rows > 0))[..., :, None, :]
    cols = q.sum(-3)
    q = q * np.minimum(1.0, np.divide(b, cols, out=np.zeros_like(b), where=cols > 0))[..., None, :, :]
    row_deficit = np.maximum(a - q.sum(-2), 0.0)
    col_deficit = np.maximum(b - q.sum(-3), 0.0)
    total = col_deficit.sum(-2, keepdims=True)
    col_share = np.divide(col_deficit, total, out=np.zeros_like(col_deficit), where=total > 0)
    return q + row_deficit[..., :, None, :] * col_share[..., None, :, :]


def _neg_conditional_entropy(q: np.ndarray) -> np.ndarray:
    """sum q log q(y | x1, x2) over the last three axes: -H_q(Y | X1, X2)."""
    return _plogp_sum(q, axis=(-3, -2, -1)) - _plogp_sum(q.sum(-1), axis=(-2, -1))


def _logsumexp_last(c: np.ndarray) -> np.ndarray:
    top = np.max(c, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(c - top).sum(-1)) + top[..., 0]


# Cells and pairs without mass divide by zero; np.where masks those values, so numpy's warnings are noise.
@np.errstate(divide="ignore", invalid="ignore")
def _solve_barrier(p: np.ndarray, tol: float, max_iterations: int, growth: float = 10.0):
    """Primal log-barrier solve of the BROJA problem for a batch of joints p[batch, x1, x2, y].

    Minimises `t f(Q) - sum log Q` over the constraint set for growing t; the iterates stay exactly
    feasible (they start at the coupling p(y) p(x1|y) p(x2|y) and Newton steps keep A Q = b). The Newton
    system is block diagonal (ny x ny per pair (x1, x2)) apart from the constraints, so it reduces to normal
    equations over the marginal multipliers (`_solve_normal_equations`). The multipliers give a dual-feasible
    point after a shift, hence a certified lower bound; see broja_optimum for the dual.
    """
    batch, n1, n2, ny = p.shape
    a, b = p.sum(2), p.sum(1)  # a[k, x1, y] = p(x1, y), b[k, x2, y] = p(x2, y)
    free_a, free_b = a > 0, b > 0
    allowed = free_a[:, :, None, :] & free_b[:, None, :, :]  # entries (x1, x2, y) a feasible Q may charge
    pairs = allowed.any(-1)
    # one x2 constraint per class is implied by the others (both marginals sum to p(y)): drop it
    pin = np.zeros_like(free_b)
    k_idx, y_idx = np.nonzero(free_b.any(1))
    pin[k_idx, b.argmax(1)[k_idx, y_idx], y_idx] = True
    var_a, var_b = free_a, free_b & ~pin
    num_entries = allowed.sum((1, 2, 3)).astype(float)
    p_y = a.sum(1)
    entropy_y = -_plogp_sum(p_y, axis=-1)
    safe_py = np.where(p_y > 0, p_y, 1.0)[:, None, None, :]
    q = np.where(allowed, a[:, :, None, :] * b[:, None, :, :] / safe_py, 0.0)
    t = num_entries.copy()  # duality gap of a central point is num_entries / t: start near 1 nat

    def barrier_value(q, t):
        with np.errstate(divide="ignore"):
            logs = np.where(allowed, np.log(np.where(allowed, q, 1.0)), 0.0)
        return t * _neg_conditional_entropy(q) - logs.sum((1, 2, 3))

    best = [None] * batch
    active = np.ones(batch, bool)
    newton_steps = outer = 0
    history = []
    lam = np.zeros_like(a)
    mu = np.zeros_like(b)
    best_gap = np.full(batch, np.inf)
    stalls = np.zeros(batch, int)
    while active.any() and newton_steps < max_iterations:
        outer += 1
        centred = ~active
        for _ in range(100):  # centring Newton steps at the current t
            safe = np.where(allowed, q, 1.0)
            q_x = np.where(pairs, q.sum(-1), 1.0)[..., None]
            grad = np.where(allowed, t[:, None, None, None] * np.log(safe / q_x) - 1.0 / safe, 0.0)
            # Hessian block per pair: D - (t / q_x) 1 1^T with D = diag(t / q + 1 / q^2); inverse by
            # Sherman-Morrison; its denominator 1 - (t/q_x) sum_y q^2/(tq + 1) equals
            # (1/q_x) sum_y q/(tq + 1) > 0, written that way to avoid cancellation at large t
            tq = t[:, None, None, None] * safe
            d_inv = np.where(allowed, safe**2 / (tq + 1.0), 0.0)
            coef = t[:, None, None, None] / q_x
            denom = np.where(allowed, safe / (tq + 1.0), 0.0).sum(-1) / q_x[..., 0]
            h_inv = (np.einsum("kijy,yz->kijyz", d_inv, np.eye(ny))
                     + (coef[..., 0] / denom)[..., None, None] * d_inv[..., :, None] * d_inv[..., None, :])
            u = np.einsum("kijyz,kijz->kijy", h_inv, grad)
            solve = _normal_equations_solver(h_inv, var_a, var_b)
            nu_a, nu_b = np.zeros_like(a), np.zeros_like(b)
            step = -u
            for _ in range(3):  # iterative refinement: the normal equations lose digits at large t
                miss_a = np.where(var_a, step.sum(2) + q.sum(2) - a, 0.0)  # A step + residual, ideally 0
                miss_b = np.where(var_b, step.sum(1) + q.sum(1) - b, 0.0)
                fix_a, fix_b = solve(miss_a, miss_b)
                nu_a, nu_b = nu_a + fix_a, nu_b + fix_b
                fix = fix_a[:, :, None, :] + fix_b[:, None, :, :]
                step = step - np.einsum("kijyz,kijz->kijy", h_inv, fix)
            step = np.where(allowed, step, 0.0)
            lam, mu = np.where(centred[:, None, None], lam, -nu_a / t[:, None, None]), \
                np.where(centred[:, None, None], mu, -nu_b / t[:, None, None])
            decrement = -(grad * step).sum((1, 2, 3))
            todo = ~centred & (decrement > 1e-7)
            centred |= ~todo
            newton_steps += 1
            if not todo.any() or newton_steps >= max_iterations:
                break
            shrinking = step < 0
            ratio = np.where(shrinking, q / np.where(shrinking, -step, 1.0), np.inf).min((1, 2, 3))
            alpha = np.where(todo, np.minimum(1.0, 0.99 * ratio), 0.0)  # stay inside q > 0
            accepted = ~todo
            before = barrier_value(q, t)
            for _ in range(40):
                after = barrier_value(np.maximum(q + alpha[:, None, None, None] * step, 0.0), t)
                accepted |= todo & (after <= before - 0.25 * alpha * decrement)
                if accepted.all():
                    break
                alpha = np.where(accepted, alpha, alpha * 0.5)
            stalled = ~accepted  # rounding noise swamps the decrease: as centred as it gets at this t
            alpha = np.where(stalled, 0.0, alpha)
            centred |= stalled
            q = np.where(allowed, np.maximum(q + alpha[:, None, None, None] * step, 0.0), 0.0)
            # restore exact feasibility: rounding errors of size 1e-12 in A q = b would otherwise dominate
            # the Newton direction at large t (the gradient is of order t)
            q = _round_to_marginals(q, a, b)
        # certificate: the multipliers, shifted to satisfy every constraint, bound the minimum from below
        c = np.where(allowed, lam[:, :, None, :] + mu[:, None, :, :], -np.inf)
        lse = np.where(pairs, _logsumexp_last(c), -np.inf)
        lower = (lam * a).sum((1, 2)) + (mu * b).sum((1, 2)) - lse.max((1, 2))
        q_exact = _round_to_marginals(q, a, b)
        upper = _neg_conditional_entropy(q_exact)
        for k in np.flatnonzero(active):
            if best[k] is None or upper[k] - lower[k] < best[k][2] - best[k][1]:
                best[k] = (q_exact[k], lower[k], upper[k])  # the best certified pair seen so far
        gaps = upper - lower
        history.append({"t": t.copy(), "gap": gaps})
        # Stop on success, or once rounding noise has stopped the gap shrinking. The gap falls ~growth-fold
        # in most rounds, but only ~2-fold in some early ones on dense joints (64 x 64 x 8): only
        # STALL_ROUNDS rounds in a row that do not improve the best gap by 10% count as a stall.
        stalls = np.where(gaps < 0.9 * best_gap, 0, stalls + 1)
        best_gap = np.minimum(best_gap, gaps)
        active &= (gaps > tol) & (stalls < STALL_ROUNDS)
        t = np.where(active, t * growth, t)
    results = []
    for k in range(batch):
        q_k, lower_k, upper_k = best[k]
        results.append(BrojaSolution(
            q=q_k, value=float(entropy_y[k] + upper_k), lower_bound=float(entropy_y[k] + lower_k),
            gap=float(upper_k - lower_k), iterations=newton_steps, outer_iterations=outer,
            converged=bool(upper_k - lower_k <= tol), history=history))
    return results


def _inverse(matrices: np.ndarray) -> np.ndarray:
    """Batched inverse; a singular matrix (only through rounding) falls back to the pseudo-inverse."""
    try:
        return np.linalg.inv(matrices)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrices, hermitian=True)


def _normal_equations_solver(m_x, var_a, var_b):
    """Factorise N = A M A^T (A the two marginal maps, M = blockdiag(m_x)); return solve(rhs_a, rhs_b).

    N's x1 block is block diagonal (ny x ny per x1): it is eliminated first (Schur complement on the x2
    multipliers). Rows of dropped constraints (`var_*` false) are identity rows. The system is scaled to unit
    diagonal: entries of the barrier Hessian span many orders of magnitude near the optimum.
    """
    batch, n1, n2, ny, _ = m_x.shape
    eye = np.eye(ny)
    mask_a = var_a[..., :, None] & var_a[..., None, :]
    mask_b = var_b[..., :, None] & var_b[..., None, :]
    n_aa = m_x.sum(2) * mask_a + eye * ~var_a[..., None]
    n_bb = m_x.sum(1) * mask_b + eye * ~var_b[..., None]
    scale_a = 1.0 / np.sqrt(np.maximum(np.diagonal(n_aa, axis1=-2, axis2=-1), 1e-300))
    scale_b = 1.0 / np.sqrt(np.maximum(np.diagonal(n_bb, axis1=-2, axis2=-1), 1e-300))
    n_aa = n_aa * scale_a[..., :, None] * scale_a[..., None, :]
    n_bb = n_bb * scale_b[..., :, None] * scale_b[..., None, :]
    coupling_mask = var_a[:, :, None, :, None] & var_b[:, None, :, None, :]
    n_ab = m_x * coupling_mask * scale_a[:, :, None, :, None] * scale_b[:, None, :, None, :]
    n_ab = n_ab.transpose(0, 1, 3, 2, 4).reshape(batch, n1 * ny, n2 * ny)
    inv_aa = _inverse(n_aa)  # (batch, n1, ny, ny)
    x = np.einsum("kiyz,kizm->kiym", inv_aa, n_ab.reshape(batch, n1, ny, n2 * ny)).reshape(batch, n1 * ny, -1)
    schur = -np.swapaxes(n_ab, 1, 2) @ x
    diag_index = np.arange(n2)
    schur_blocks = schur.reshape(batch, n2, ny, n2, ny)
    schur_blocks[:, diag_index, :, diag_index, :] += np.moveaxis(n_bb, 0, 1)
    inv_schur = _inverse(schur)

    def solve(rhs_a, rhs_b):
        rhs_a, rhs_b = rhs_a * scale_a, rhs_b * scale_b
        reduced = rhs_b.reshape(batch, -1) - np.einsum(
            "kam,ka->km", n_ab, np.einsum("kiyz,kiz->kiy", inv_aa, rhs_a).reshape(batch, -1))
        nu_b = np.einsum("kmn,kn->km", inv_schur, reduced)
        coupling = (n_ab @ nu_b[..., None])[..., 0].reshape(batch, n1, ny)
        nu_a = np.einsum("kiyz,kiz->kiy", inv_aa, rhs_a - coupling) * scale_a
        nu_b = nu_b.reshape(batch, n2, ny) * scale_b
        return np.where(var_a, nu_a, 0.0), np.where(var_b, nu_b, 0.0)

    return solve


def broja_optimum(p, tol: float = 1e-5, max_iterations: int = 2000) -> BrojaSolution:
    """Minimise I_Q(X1,X2;Y) over Q with Q(x1,y) = p(x1,y) and Q(x2,y) = p(x2,y); p is p[x1, x2, y].

    Method. Write f(Q) = sum Q log Q(y|x1,x2) = I_Q(X1,X2;Y) - H(Y) (H(Y) is fixed by the constraints); f is
    convex. A primal log-barrier method (`_solve_barrier`) follows the central path of
    `t f(Q) - sum log Q` from the coupling p(y)p(x1|y)p(x2|y); its Newton systems reduce to normal equations
    over the (x1+x2) * |Y| marginal multipliers. Certificate: with multipliers lam[x1, y], mu[x2, y],
    minimising the Lagrangian over Q(x1, x2, .) >= 0 for one pair gives 0 if LSE_y(lam[x1,y] + mu[x2,y]) <= 0
    and -inf otherwise (f is positively homogeneous in Q(x1,x2,.)), so the dual is
    `max sum lam*p(x1,y) + sum mu*p(x2,y)  s.t.  LSE_y(lam[x1,y] + mu[x2,y]) <= 0 for every (x1, x2)`.
    The barrier's multipliers, shifted to satisfy every constraint, give a lower bound; the iterate, rounded
    exactly onto the constraints, an upper bound. The iteration stops when they are within `tol` nats, and
    raises `PIDConvergenceError` when the budget of Newton steps runs out first or when rounding errors stop
    the gap shrinking (`STALL_ROUNDS` rounds without a better gap); its message says which, and the
    `max_iterations` or `tol` that fixes it. Attainable gaps: ~1e-8 nats on small joints with an interior
    optimum, ~6e-6 when the optimum has zeros (AND), ~1e-5 on the 128 x 128 x 4 synthetic joints and on
    dense 64 x 64 x 8 joints (beyond that the normal equations run out of double precision).
    """
    joint = check_joint(p, 3)
    if not (isinstance(tol, (int, float)) and tol > 0):
        fail("tol", f"must be a number > 0, got {tol!r}")
    check_positive_int("max_iterations", max_iterations)
    solution = broja_batch(joint[None], tol, max_iterations)[0]
    if not solution.converged:
        found = (f"BROJA optimisation stopped at a certified gap of {solution.gap:.3g} nats, above tol "
                 f"{tol:.3g}")
        if solution.iterations >= max_iterations:
            raise PIDConvergenceError(
                f"{found}, when its {max_iterations} Newton steps ran out before the gap stalled; raise "
                f"max_iterations (e.g. max_iterations={4 * max_iterations})")
        # the path is deterministic: a rerun with this tol stops, converged, where the best gap was reached
        raise PIDConvergenceError(
            f"{found}: rounding errors stopped it shrinking on this joint (more Newton steps do not help); "
            f"pass tol={solution.gap * 1.05:.2g} or more")
    return solution


def broja_batch(joints: np.ndarray, tol: float, max_iterations: int) -> list[BrojaSolution]:
    """Solve a batch of same-shaped joints; rows, columns and classes with no mass anywhere are dropped.

    Shortcut: I_Q(X1,X2;Y) >= max(I(X1;Y), I(X2;Y)) for every feasible Q and p itself is feasible, so when
    I_p(X1,X2;Y) is within `tol` of that bound, p is optimal (e.g. when one modality determines the other).
    """
    solutions: list[BrojaSolution | None] = [None] * len(joints)
    hard = []
    for k, joint in enumerate(joints):
        bound = max(_mutual_information(joint.sum(1)), _mutual_information(joint.sum(0)))
        value = _mutual_information(joint.reshape(-1, joint.shape[2]))
        if value - bound <= tol:
            solutions[k] = BrojaSolution(q=joint.copy(), value=value, lower_bound=bound, gap=value - bound,
                                         iterations=0, outer_iterations=0, converged=True)
        else:
            hard.append(k)
    if not hard:
        return solutions
    keep1 = joints.sum((0, 2, 3)) > 0
    keep2 = joints.sum((0, 1, 3)) > 0
    keepy = joints.sum((0, 1, 2)) > 0
    reduced = joints[hard][:, keep1][:, :, keep2][..., keepy]
    swap = reduced.shape[1] < reduced.shape[2]  # eliminate the larger block; the minimum is symmetric
    if swap:
        reduced = reduced.transpose(0, 2, 1, 3)
    for k, solution in zip(hard, _solve_barrier(reduced, tol, max_iterations), strict=True):
        q = solution.q.transpose(1, 0, 2) if swap else solution.q
        full = np.zeros(joints.shape[1:])
        full[np.ix_(keep1, keep2, keepy)] = q
        solution.q = full
        solutions[k] = solution
    return solutions


# ----------------------------------------------------------------------------------------------------------
# partial information decomposition


def pid_from_solution(p: np.ndarray, q: np.ndarray, value: float) -> dict:
    """The PID (dict of redundancy, unique1, unique2, synergy and the mutual informations, nats) of the
    joint `p[x1, x2, y]` from the BROJA optimum `q` and its value `I_q(X1,X2;Y)`."""
    mi1 = _mutual_information(p.sum(1))
    mi2 = _mutual_information(p.sum(0))
    mi12 = _mutual_information(p.reshape(-1, p.shape[2]))
    # I_Q(X1;Y|X2) = I_Q(X1X2;Y) - I_Q(X2;Y), and I_Q(X2;Y) = I(X2;Y) because Q keeps p(x2, y)
    unique1 = value - _mutual_information(q.sum(0))
    unique2 = value - _mutual_information(q.sum(1))
    return {"redundancy": mi1 - unique1, "unique1": unique1, "unique2": unique2, "synergy": mi12 - value,
            "mi_x1_y": mi1, "mi_x2_y": mi2, "mi_x1x2_y": mi12}


def pid(p, base="e", tol: float = 1e-5, max_iterations: int = 2000) -> dict:
    """BROJA partial information decomposition of a joint p[x1, x2, y].

    Returns redundancy, unique1, unique2, synergy and the three mutual informations (`mi_x1_y`, `mi_x2_y`,
    `mi_x1x2_y`) in nats (`base=2`: bits), plus `solver_gap` (certified error bound on the minimum, same
    unit) and `solver_iterations` (Newton steps). R + U1 + U2 + S = I(X1,X2;Y), R + U1 = I(X1;Y) and
    R + U2 = I(X2;Y) hold up to the solver's gap.
    """
    joint = check_joint(p, 3)
    scale = log_base(base)
    solution = broja_optimum(joint, tol=tol, max_iterations=max_iterations)
    result = {k: v / scale for k, v in pid_from_solution(joint, solution.q, solution.value).items()}
    result["solver_gap"] = solution.gap / scale
    result["solver_iterations"] = solution.iterations
    return result
