"""Importing the package is cheap and changes no global state that results depend on."""


def test_importing_the_package_has_no_side_effects():
    import subprocess
    import sys

    code = ("import sys, numpy as np, matplotlib; state = np.random.get_state()[1].copy(); "
            "rc = repr(dict(matplotlib.rcParams)); import alignbook; "
            "assert 'torch' not in sys.modules, 'importing alignbook must stay cheap'; "
            "import alignbook.plotting, alignbook.sweep, alignbook.training.single; "
            "assert (np.random.get_state()[1] == state).all(), 'global RNG touched'; "
            "assert repr(dict(matplotlib.rcParams)) == rc, 'matplotlib settings changed'")
    subprocess.run([sys.executable, "-c", code], check=True)
