"""What every variable of every dataset grokjax writes means: ``long_name``, ``units`` and a one-line
``description`` (the README "Conventions" table's definitions), in one place.

:func:`annotate` attaches them (``grokjax.store.save_dataset`` calls it, so every writer gets them). Look-up
order: the figure's entries (``ds.attrs["figure"]``), the task's (``ds.attrs["task"]``), then the shared table,
which describes the committee machine (task ``poly``). A variable that already carries all three attributes
is left as it is. A variable with no entry is reported (:class:`MissingMetadataWarning`; an error when the
environment variable ``GROKJAX_STRICT_METADATA`` is set, as in the test suite).
"""
from __future__ import annotations

import os
import warnings

import xarray as xr

__all__ = ["VARIABLES", "COORDINATES", "TASK_VARIABLES", "FIGURE_VARIABLES", "CONVENTIONS", "describe", "annotate",
           "MissingMetadataWarning", "MissingMetadataError"]

ATTRS = ("long_name", "units", "description")

#: Project-wide conventions, stored as ``ds.attrs["conventions"]`` of every dataset.
CONVENTIONS = (
    "grokjax (README 'Conventions', grokjax/_metadata.py): f(x) = (alpha/N) sum_k a_k phi(w_k.x), "
    "phi(h) = h + (eps/2) h^2, internal inputs x ~ N(0, I/D); centred predictor f - f0 unless config "
    "centered=false; losses are mean squared errors without 1/2 (cross-entropy for the transformer); step size "
    "eta = eta0 N/alpha^2; NTK K(x,x') = sum_theta df(x)/dtheta df(x')/dtheta including alpha^2/N; 'step' counts "
    "optimizer steps; DMFT datasets use the DMFT conventions of shared/spec/dmft.md (x ~ N(0, I_D), time t)."
)

_MSE = "mean squared error, no 1/2"
_DECOMP = "exact population test loss decomposition (README 'decomposition'), "

#: name -> (long_name, units, description); the committee machine and names shared by all datasets.
VARIABLES: dict[str, tuple[str, str, str]] = {
    # ---- committee machine (grokjax.simulate / run_sweep)
    "train_loss": ("train loss", "1", f"{_MSE}, of the (centred) network on the P training points"),
    "test_loss": ("test loss", "1", f"{_MSE}, of the (centred) network on the P_test held-out points"),
    "pop_test_loss": ("population test loss", "1",
                      "exact expected squared error over x ~ N(0, I/D) from the statistics (w-bar, M); no 1/2"),
    "decomp_variance": ("test loss: variance/scale term", "1",
                        _DECOMP + "(i) ((alpha eps Tr dM - 2 c2 |beta|^2)/(2D) - c0)^2"),
    "decomp_alignment": ("test loss: alignment term", "1",
                         _DECOMP + "(ii) ||alpha eps dM - 2 c2 beta beta^T||_F^2/(2 D^2)"),
    "decomp_linear": ("test loss: linear-power term", "1", _DECOMP + "(iii) alpha^2 |d w-bar|^2/D"),
    "alignment": ("NTK-target alignment", "1",
                  "alignment of the current NTK with the test labels on the n_align test points: config cka "
                  "'paper' ybar^T Kc ybar/(||Kc||_F ||ybar||^2), Kc = K minus column means, or 'cortes' (HKH)"),
    "weight_norm": ("weight norm", "1", "||W||_F of the first-layer weights (||theta|| with trained readouts)"),
    "movement": ("relative parameter movement", "1", "||theta - theta_0|| / ||theta_0||"),
    "m2": ("teacher overlap m-bar^2", "1", "beta^T M beta / D^2 with M = W^T diag(a) W / N"),
    "q": ("self overlap q", "1", "Tr M / D with M = W^T diag(a) W / N"),
    "lazy_train_loss": ("lazy model train loss", "1",
                        f"{_MSE}, of the exact linearisation f(theta0) + J0 (theta - theta0) on the training set"),
    "lazy_test_loss": ("lazy model test loss", "1", f"{_MSE}, of the exact linearisation on the test points"),
    "lazy_pop_test_loss": ("lazy model population test loss", "1",
                           "exact expected squared error of the linearised model over x ~ N(0, I/D); no 1/2"),
    "kernel_movement": ("relative NTK movement", "1",
                        "||K_t - K_0||_F / ||K_0||_F of the NTK Gram on the n_align held-out test points "
                        "(a subsample of P_test; closed form from the statistics)"),
    "kernel_alignment_init_paper": ("alignment of K_t with K_0 (paper centring)", "1",
                                    "<HK_t, HK_0>_F/(||HK_t||_F ||HK_0||_F), H removes column means, on the "
                                    "n_align test points"),
    "kernel_alignment_init_cortes": ("alignment of K_t with K_0 (Cortes centring)", "1",
                                     "<HK_tH, HK_0H>_F/(||HK_tH||_F ||HK_0H||_F) on the n_align test points"),
    "after_kernel_test_loss": ("test loss of kernel regression with the current NTK", "1",
                               f"{_MSE}, of K_t(X_test, X)(K_t(X, X) + ridge tr K_t/P)^-1 y ('after kernel'; "
                               "equals kr_test_loss at step 0)"),
    "kr_test_loss": ("test loss of kernel regression with the initial NTK", "1",
                     f"{_MSE}, of K_0(X_test, X)(K_0(X, X) + ridge tr K_0/P)^-1 y (ridgeless by default)"),
    "diverged_step": ("divergence step", "steps",
                      "first step whose train loss was non-finite or above divergence_bound (-1: never); the run "
                      "is frozen there"),
    "lazy_diverged_step": ("lazy model divergence step", "steps", "as diverged_step, for the lazy model"),
    "grokking_amount": ("amount of grokking", "steps",
                        "first logged step with test loss < 0.1 minus the same for the train loss (never: steps)"),
    "grok_t_train": ("train threshold step", "steps", "first logged step with train loss below the threshold"),
    "grok_t_test": ("test threshold step", "steps", "first logged step with test loss below the threshold"),
    "grok_delay": ("grokking delay", "steps", "grok_t_test - grok_t_train"),
    "grok_bump": ("test loss bump", "1", "max over time of the test loss minus its initial value"),
    # ---- appendix studies
    "eigenvalue": ("NTK eigenvalue", "1", "k-th eigenvalue of the centred initial NTK Gram on all 2P points"),
    "eigenvalue_all": ("NTK eigenvalues", "1", "all eigenvalues of the centred initial NTK Gram, descending"),
    "alignment_all": ("alignment of K_0 with each eigenvector label", "1",
                      "paper-code CKA of the initial NTK on the test half with the k-th eigenvector label"),
    "regime": ("regime", "1", "'never', 'grokking' or 'immediate' (experiments/_appendix.py docstring)"),
    "t_generalise": ("time to generalise", "steps",
                     "first logged step where the test loss is below a fraction of its initial value"),
    "hermite_train_loss": ("Hermite target train loss", "1", f"{_MSE}, of the He_3 target run, training set"),
    "hermite_test_loss": ("Hermite target test loss", "1", f"{_MSE}, of the He_3 target run, test points"),
    "train_accuracy": ("train accuracy", "1", "fraction of training points with squared error below tau"),
    "test_accuracy": ("test accuracy", "1", "fraction of test points with squared error below tau"),
    # ---- tasks (shared names; per-task meanings in TASK_VARIABLES)
    "train_acc": ("train accuracy", "1", "fraction of training examples classified correctly (argmax)"),
    "test_acc": ("test accuracy", "1", "fraction of test examples classified correctly (argmax)"),
    "rel_change": ("relative parameter change", "1", "||theta - theta_0|| / ||theta_0|| over all parameters"),
    "lin_train_loss": ("linearised model train loss", "1", "train loss of the exact linearisation around theta_0"),
    "lin_test_loss": ("linearised model test loss", "1", "test loss of the exact linearisation around theta_0"),
    "lin_train_acc": ("linearised model train accuracy", "1", "train accuracy of the exact linearisation"),
    "lin_test_acc": ("linearised model test accuracy", "1", "test accuracy of the exact linearisation"),
    "lin_distance": ("distance to the linearised model", "1",
                     "||f - f_lin|| / ||f_lin - f_0|| on the test points"),
    # ---- DMFT (DMFT conventions: x ~ N(0, I_D), h = w.x/sqrt(D), time t = step * dt)
    "train": ("DMFT train loss", "1", "E over training points of (f~ - y)^2 (no 1/2), DMFT solution"),
    "test": ("DMFT test loss", "1", "E over fresh x of (f~ - y)^2 (no 1/2), DMFT solution"),
    "gap": ("DMFT train - test gap", "1", "train - test loss of the DMFT solution"),
    "m": ("teacher overlaps m(t)", "1", "m_i = w_i . beta / D for each hidden unit"),
    "Q": ("weight overlaps Q(t)", "1", "Q_ij = w_i . w_j / D"),
    "Qt0": ("two-time overlaps C(t, 0)", "1", "w_i(t) . w_j(0) / D"),
    "sim_train": ("simulated train loss", "1", "finite-D GD simulation in the DMFT conventions, (f~ - y)^2 mean"),
    "sim_test": ("simulated test loss", "1", "finite-D GD simulation, exact Gaussian test loss of the overlaps"),
    "sim_m": ("simulated teacher overlaps", "1", "m_i = w_i . beta / D of the finite-D simulation"),
    "dmft_train": ("DMFT train loss", "1", "finite-a DMFT train loss, one Monte-Carlo solution per dmft_seed"),
    "dmft_test": ("DMFT test loss", "1", "finite-a DMFT test loss, one Monte-Carlo solution per dmft_seed"),
    "dmft_m": ("DMFT teacher overlaps", "1", "finite-a DMFT m(t) per hidden unit and dmft_seed"),
    "online_test": ("online DMFT test loss", "1", "test loss of the a -> infinity (Saad-Solla) equations"),
    "online_m": ("online DMFT teacher overlaps", "1", "m(t) of the a -> infinity (Saad-Solla) equations"),
    "first_order_gap": ("first-order train-test gap", "1", "the 1/a train - test gap of dmft.first_order_gap"),
    "feature_alignment": ("feature alignment", "1",
                          "cosine of (W_t^T W_t - W_0^T W_0) with beta beta^T, from the DMFT overlaps m, Q, C(t,0)"),
    "ntk_alignment": ("NTK alignment", "1",
                      "sqrt(D) x population CKA (paper's one-sided centring) of the current NTK with the target, from m, Q"),
    "a": ("sample ratio a = P/D", "1", "number of training points per input dimension"),
    "eta": ("DMFT learning rate eta", "1", "GD W <- W - dt (eta D/alpha^2) grad L (DMFT convention)"),
    "dt": ("DMFT time step dt", "DMFT time", "one simulator GD step is dt of DMFT time"),
    "N": ("hidden units N", "1", "number of hidden units (per parameter set)"),
}

#: Coordinates (dimensions and swept parameters).
COORDINATES: dict[str, tuple[str, str, str]] = {
    "step": ("optimizer step", "steps", "number of optimizer (GD) steps taken when the metrics were logged"),
    "seed": ("random seed", "1", "PRNG seed of the data and the initialisation"),
    "alpha": ("output scale alpha", "1", "laziness: f = alpha (network), step size eta0 N/alpha^2"),
    "eps": ("quadratic coefficient eps", "1", "phi(h) = h + (eps/2) h^2 (kernel alignment at init)"),
    "eta0": ("base step size eta0", "1", "step size eta = eta0 N / alpha^2"),
    "init_scale": ("initial weight scale", "1", "every initial parameter multiplied by this scale (sigma)"),
    "momentum": ("momentum", "1", "heavy-ball momentum coefficient (optax trace decay)"),
    "weight_decay": ("weight decay", "1", "decoupled weight decay coefficient (AdamW) or per-step decay"),
    "config": ("configuration index", "1", "index of a configuration of a zip-mode sweep"),
    "family": ("run family", "1", "which sweep of Fig 6 (sigma, alpha = sigma^2, joint alpha = 1/sigma^2)"),
    "sigma": ("initial weight scale sigma", "1", "Fig 6 weight scale"),
    "P": ("training set size P", "1", "number of training points"),
    "k": ("eigenvector index k", "1", "labels = k-th eigenvector of the centred initial NTK Gram (1 = top)"),
    "k_all": ("eigenvector index", "1", "every eigenvector index 1..2P"),
    "lam": ("interpolation lambda", "1", "initialisation interpolated toward the aligned solution by lambda"),
    "r": ("number of teacher directions r", "1", "multi-index target y = sum_j (beta_j.x)^2 / 2, j = 1..r"),
    "step_he": ("optimizer step (Hermite run)", "steps", "logged steps of the He_3 target run"),
    "tau": ("accuracy threshold tau", "1", "a point counts as correct when its squared error is below tau"),
    "threshold": ("accuracy threshold", "1", "a point counts as correct when its squared error is below this"),
    "wd": ("weight decay", "1", "per-step weight decay eta0 * wd"),
    "set": ("parameter set", "1", "DMFT comparison parameter set (Fig 4)"),
    "t": ("DMFT time", "DMFT time", "t = step * dt"),
    "D": ("input dimension D", "1", "number of input dimensions of the simulation"),
    "dmft_seed": ("DMFT Monte-Carlo seed", "1", "seed of one Monte-Carlo DMFT solution"),
    "unit": ("hidden unit", "1", "index of a hidden unit"),
    "unit2": ("hidden unit", "1", "second hidden-unit index of a two-unit overlap"),
}

_TASK_DIVERGED = {  # the tasks' divergence guard (grokjax.tasks._common.train): non-finite losses only
    "diverged_step": ("divergence step", "steps",
                      "first step whose (minibatch) train loss was non-finite (-1: never); the run is frozen there"),
    "lin_diverged_step": ("linearised model divergence step", "steps",
                          "as diverged_step, for the exact linearisation trained alongside"),
}

#: Per-task meanings where a shared name means something else (looked up before VARIABLES).
TASK_VARIABLES: dict[str, dict[str, tuple[str, str, str]]] = {
    "transformer": {
        **_TASK_DIVERGED,
        "train_loss": ("train loss", "1", "softmax cross-entropy of the centred logits on the training pairs"),
        "test_loss": ("test loss", "1", "softmax cross-entropy of the centred logits on the held-out pairs"),
        "lin_train_loss": ("linearised model train loss", "1", "cross-entropy of the exact linearisation, train"),
        "lin_test_loss": ("linearised model test loss", "1", "cross-entropy of the exact linearisation, test"),
        "weight_norm": ("weight norm", "1", "Euclidean norm of all parameters together"),
    },
    "modular": {
        **_TASK_DIVERGED,
        "train_loss": ("train loss", "1", f"{_MSE}, on one-hot targets of (a + b) mod p, training pairs"),
        "test_loss": ("test loss", "1", f"{_MSE}, on one-hot targets of (a + b) mod p, held-out pairs"),
        "weight_norm": ("weight norm", "1", "||W1||_F + ||W2||_F"),
    },
    "mnist": {
        **_TASK_DIVERGED,
        "train_loss": ("train loss", "1", f"{_MSE}, on one-hot labels, training images"),
        "test_loss": ("test loss", "1", f"{_MSE}, on one-hot labels, test images"),
        "weight_norm": ("weight norm", "1", "Euclidean norm of all parameters together"),
    },
    "teacher": {
        **_TASK_DIVERGED,
        "train_loss": ("train loss", "1", f"{_MSE}, student vs teacher outputs on the training inputs"),
        "test_loss": ("test loss", "1", f"{_MSE}, student vs teacher outputs on the test inputs"),
        "lin_train_loss": ("linearised model train loss", "1", f"{_MSE}, of the exact linearisation, train"),
        "lin_test_loss": ("linearised model test loss", "1", f"{_MSE}, of the exact linearisation, test"),
        "train_acc": ("train accuracy", "1", "fraction of training points with squared error < threshold"),
        "test_acc": ("test accuracy", "1", "fraction of test points with squared error < threshold"),
        "weight_norm": ("weight norm", "1", "Euclidean norm of all student parameters together"),
    },
}

#: Per-figure meanings where a figure reuses a name for something else (looked up first).
FIGURE_VARIABLES: dict[str, dict[str, tuple[str, str, str]]] = {
    "app8.4": {"alignment": ("alignment of K_0 with the label", "1",
                             "paper-code CKA of the initial NTK on the test half with the k-th eigenvector label")},
}


def describe(name: str, task: str | None = None, figure: str | None = None,
             coordinate: bool = False) -> tuple[str, str, str] | None:
    """(long_name, units, description) of variable ``name`` in this context, or ``None`` if unknown."""
    for table in (FIGURE_VARIABLES.get(figure or "", {}), TASK_VARIABLES.get(task or "", {}),
                  COORDINATES if coordinate else VARIABLES, VARIABLES if coordinate else COORDINATES):
        if name in table:
            return table[name]
    return None


class MissingMetadataWarning(UserWarning):
    """A dataset variable has no entry in grokjax/_metadata.py."""


class MissingMetadataError(ValueError):
    """Raised instead of the warning when ``GROKJAX_STRICT_METADATA`` is set (the test suite)."""


def annotate(ds: xr.Dataset, task: str | None = None, figure: str | None = None) -> xr.Dataset:
    """A copy of ``ds`` whose data variables and coordinates carry long_name, units and description.

    ``task`` / ``figure`` default to ``ds.attrs["task"]`` / ``ds.attrs["figure"]``. Unknown names warn
    (:class:`MissingMetadataWarning`) or, with ``GROKJAX_STRICT_METADATA`` set, raise :class:`MissingMetadataError`.
    """
    ds = ds.copy()
    task = task or ds.attrs.get("task")
    figure = figure or ds.attrs.get("figure")
    missing = []
    for name, var in ds.variables.items():
        if all(key in var.attrs for key in ATTRS):
            continue
        entry = describe(str(name), task, figure, coordinate=name in ds.coords)
        if entry is None:
            missing.append(str(name))
            continue
        for key, value in zip(ATTRS, entry):
            var.attrs.setdefault(key, value)
    ds.attrs.setdefault("conventions", CONVENTIONS)
    if missing:
        message = (f"dataset variables without long_name/units/description: {', '.join(missing)}; add them to "
                   "grokjax/_metadata.py (or set the three attributes on the variable)")
        if os.environ.get("GROKJAX_STRICT_METADATA"):
            raise MissingMetadataError(message)
        warnings.warn(message, MissingMetadataWarning, stacklevel=3)
    return ds
