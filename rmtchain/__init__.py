"""rmtchain: random-matrix theory of deep neural chains.

Sample the input-output Jacobian J = D_L W_L ... D_1 W_1 of a deep random network at any
depth, and set its spectrum beside theory. Conventions: theory/README.md.
"""

from .chain import Chain
from .compare import SpectrumComparison, compare_spectrum, ks_distance
from .curvature import (CurvatureSpectrum, TraceEstimate, hessian_spectrum, hutchinson_trace,
                        top_eigenvalues)
from .finitewidth import (LognormPrediction, depth_for_width, predict_lognorm,
                          sample_forward_lognorm, width_for_depth)
from .free import SpectrumPrediction, predict_spectrum
from .laws import FussCatalan, MarchenkoPastur, PointMass
from .lyapunov import LyapunovExponents, lyapunov_exponents, sample_lyapunov
from .meanfield import MeanField, critical_point, critical_sigma_w, mean_field
from .network import CurvatureOperator, Network, sample_network
from .nonlinearities import Nonlinearity, get_phi, register_phi, registered_phis
from .phase import phase_diagram
from .plotting import plot_comparison, plot_spectrum
from .results import Moments, Spectrum
from .sampling import sample_lognorm, sample_spectrum

__version__ = "0.1.0"

__all__ = [
    "Chain",
    "CurvatureOperator",
    "CurvatureSpectrum",
    "FussCatalan",
    "LognormPrediction",
    "LyapunovExponents",
    "MarchenkoPastur",
    "MeanField",
    "Moments",
    "Network",
    "Nonlinearity",
    "PointMass",
    "Spectrum",
    "SpectrumComparison",
    "SpectrumPrediction",
    "TraceEstimate",
    "compare_spectrum",
    "critical_point",
    "critical_sigma_w",
    "depth_for_width",
    "get_phi",
    "hessian_spectrum",
    "hutchinson_trace",
    "ks_distance",
    "lyapunov_exponents",
    "mean_field",
    "phase_diagram",
    "plot_comparison",
    "plot_spectrum",
    "predict_lognorm",
    "predict_spectrum",
    "register_phi",
    "registered_phis",
    "sample_forward_lognorm",
    "sample_lognorm",
    "sample_lyapunov",
    "sample_network",
    "sample_spectrum",
    "top_eigenvalues",
    "width_for_depth",
]
