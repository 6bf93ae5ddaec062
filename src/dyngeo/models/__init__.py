"""Models of the chapters, built on ``dyngeo.ode``."""

from .akorn import AKOrNBlock, AKOrNClassifier, KuramotoLayer, SudokuAKOrN
from .ncode import NCODE, AutoNCODE, ParamTemplate
from .node import MLPField, NeuralODE
from .sanode import SANODE
from .snf import EnergyMLP, FlowClassifier, NegativeDefinite, SecondOrderFlow, StableNeuralFlow

__all__ = ["AKOrNBlock", "AKOrNClassifier", "KuramotoLayer", "SudokuAKOrN", "NCODE", "AutoNCODE", "ParamTemplate", "MLPField", "NeuralODE", "SANODE", "EnergyMLP", "FlowClassifier", "NegativeDefinite", "SecondOrderFlow", "StableNeuralFlow"]

# Part II generative models and their training code, one concept per module.
from . import diffusion, diffusion_likelihood, gridvae, lmd  # DDPM/DDIM/flow-ODE samplers (12, 13, 15); eq. 23 (12)
from .chart_autoencoder import ChartAutoencoder  # chapter 15
from .dae_og import DAEOG, AttributeAE, orthogonality_loss, train_dae  # chapter 14
from .flows import AffineCoupling, RealNVP  # chapter 12
from .gridvae import GridVAE, VAEClassifier  # chapter 12
from .mrml import Autoencoder, EpisodeSampler, fit_mrml  # chapter 16
from .unet import TinyUNet  # chapter 13
from .vae import VAE  # chapters 12, 15

__all__ += ["ChartAutoencoder", "diffusion", "diffusion_likelihood", "gridvae", "lmd", "DAEOG", "AttributeAE", "orthogonality_loss",
            "train_dae", "AffineCoupling", "RealNVP", "GridVAE", "VAEClassifier", "Autoencoder", "EpisodeSampler",
            "fit_mrml", "TinyUNet", "VAE"]
