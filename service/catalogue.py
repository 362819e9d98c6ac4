"""What the activation catalogue says about each activation, in words.

``nn`` holds the maths (the functions, their derivatives, which initializer suits them);
the words a reader of ``GET /activations`` sees belong to the service. Entries are keyed
by the name an activation is registered under in ``nn.ACTIVATIONS`` or ``nn.OUTPUTS``:
adding an activation is one entry there and one here (a test checks that none is
missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Prose:
    """The catalogue's description of one activation.

    Attributes
    ----------
    formula, derivative : str
        The function and its derivative, written out.
    output_range : str
        The values it can take.
    pitfalls : str
        What can go wrong with it, and when.
    """

    formula: str
    derivative: str
    output_range: str
    pitfalls: str


#: Registered name -> its prose. An activation that serves as a hidden layer and as an
#: output (sigmoid, linear) is described once, by its hidden-layer behaviour.
PROSE: Mapping[str, Prose] = MappingProxyType(
    {
        "linear": Prose(
            formula="f(x) = x",
            derivative="f'(x) = 1",
            output_range="(-inf, inf)",
            pitfalls="Stacked linear layers collapse into one linear map: the network can only "
            "draw straight decision boundaries, however deep it is.",
        ),
        "sigmoid": Prose(
            formula="f(x) = 1 / (1 + e^-x)",
            derivative="f'(x) = f(x) * (1 - f(x))",
            output_range="(0, 1)",
            pitfalls="Saturates for large |x| (derivative at most 0.25, near 0 in the tails): "
            "gradients vanish in deep stacks; outputs are not zero-centred.",
        ),
        "tanh": Prose(
            formula="f(x) = (e^x - e^-x) / (e^x + e^-x)",
            derivative="f'(x) = 1 - f(x)^2",
            output_range="(-1, 1)",
            pitfalls="Zero-centred and steeper than sigmoid, but it saturates too: gradients "
            "vanish for large |x|.",
        ),
        "relu": Prose(
            formula="f(x) = max(0, x)",
            derivative="f'(x) = 1 if x > 0 else 0",
            output_range="[0, inf)",
            pitfalls="Units whose input stays negative output 0 with gradient 0 and stop "
            "learning (dying ReLU), more so with a large learning rate.",
        ),
        "leaky_relu": Prose(
            formula="f(x) = x if x > 0 else alpha * x",
            derivative="f'(x) = 1 if x > 0 else alpha",
            output_range="(-inf, inf)",
            pitfalls="A small negative slope keeps dead units learning; alpha is one more "
            "setting to choose.",
        ),
        "elu": Prose(
            formula="f(x) = x if x > 0 else alpha * (e^x - 1)",
            derivative="f'(x) = 1 if x > 0 else f(x) + alpha",
            output_range="(-alpha, inf)",
            pitfalls="Smooth and negative-saturating; costs an exponential per unit.",
        ),
        "selu": Prose(
            formula="f(x) = scale * (x if x > 0 else alpha * (e^x - 1)), "
            "alpha = 1.67326, scale = 1.05070",
            derivative="f'(x) = scale if x > 0 else f(x) + scale * alpha",
            output_range="(-1.7581, inf)",
            pitfalls="Self-normalizes only with LeCun-normal weights and standardized inputs, "
            "and dropout breaks it.",
        ),
        "gelu": Prose(
            formula="f(x) = x * Phi(x), tanh approximation: "
            "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
            derivative="f'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) "
            "(1 + 3 * 0.044715 x^2), t = tanh(sqrt(2/pi) (x + 0.044715 x^3))",
            output_range="(-0.17, inf)",
            pitfalls="Smooth ReLU-like curve; several transcendental operations per unit.",
        ),
        "silu": Prose(
            formula="f(x) = x * sigmoid(x)",
            derivative="f'(x) = sigmoid(x) * (1 + x * (1 - sigmoid(x)))",
            output_range="(-0.28, inf)",
            pitfalls="Smooth and non-monotonic; costs an exponential per unit.",
        ),
        "softplus": Prose(
            formula="f(x) = log(1 + e^x)",
            derivative="f'(x) = sigmoid(x) = 1 / (1 + e^-x)",
            output_range="(0, inf)",
            pitfalls="A smooth ReLU whose gradient never reaches 0 on the negative side, but "
            "it is not zero-centred and costs a log and an exp per unit.",
        ),
        "maxout": Prose(
            formula="f(x) = max_k (w_k . x + b_k) over `pieces` linear pieces",
            derivative="df/dz_k = 1 for the winning piece k, 0 for the others",
            output_range="(-inf, inf)",
            pitfalls="Learns its own piecewise-linear activation, never dies, but holds "
            "`pieces` times the weights of a plain layer.",
        ),
        "softmax": Prose(
            formula="p_i = e^z_i / sum_j e^z_j",
            derivative="dp_i/dz_j = p_i * (delta_ij - p_j)",
            output_range="(0, 1), each row summing to 1",
            pitfalls="Couples the units of a layer, so it serves as the output of a "
            "multi-class model only; paired with cross-entropy its gradient is simply "
            "p - y, but a large logit gap saturates it (probabilities of exactly 0 "
            "or 1 in float32).",
        ),
    }
)

#: Output name -> the kind of target it is for.
OUTPUT_USES: Mapping[str, str] = MappingProxyType(
    {
        "sigmoid": "binary classification (probability of the second class) and multi-label "
        "classification (one independent probability per label)",
        "softmax": "multi-class classification (one distribution over the classes per row)",
        "linear": "regression (real-valued targets, one or several columns)",
    }
)
