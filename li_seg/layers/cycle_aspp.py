"""DenseASPP (Yang et al. 2018) and CycleNet's CycleASPP (Qu et al., Eq. 2-3): a chain of atrous layers, each
reading the outputs of the layers before it, and (CycleASPP) a feedback pass in which each layer is recomputed from
the newest outputs of every other layer (CliqueNet's stage II, Yang et al. 2018).

    Part I  (DenseASPP):  Y_j^0 = f_{r_j}([Y_{j-1}^0, ..., Y_1^0, Y_0])                       j = 1 ... J
    Part II (feedback):   Y_j^1 = f_{r_j}([Y_J^0, ..., Y_{j+1}^0, Y_{j-1}^1, ..., Y_1^1])     j = 1 ... J, in order
    output:               [Y_J, ..., Y_1, Y_0]   (each layer's newest output; Y_0 optional)

One layer f_r (DenseASPP's _DenseAsppBlock with cfgs/DenseASPP161.py): [BN] -> ReLU -> 1x1 conv with bias to
`bottleneck_channels` (512) -> BN -> ReLU -> 3x3 conv with bias to `growth_channels` (128), dilation r -> channel
dropout (PyTorch's Dropout2d = SpatialDropout2D). Part I's first layer has no leading BN (DenseASPP: DenseNet's
norm5 precedes it; `input_bn` adds one). The newest output goes first in every concatenation, as in the equations.

Weight reuse (CliqueNet's code; the paper writes the same f_{r_j} in Eq. 2 and 3): layer j's 1x1 conv holds one
kernel W_ij per source i (`CliqueConv1x1`); Part I reads W_0j ... W_{j-1,j}, Part II the W_ij of the other layers
i >= 1, so the W_ij with i < j are the very variables Part I used. The 3x3 conv and the 1x1 conv's bias are the
same in both parts; BN is not shared (Part II has its own BN layers). `shared=False` (the ablation) gives Part II
its own 1x1 kernels for every source (the 3x3 conv, the bias and the rest unchanged): the two variants differ by
exactly the J(J-1)/2 kernels W_ij, i < j, that sharing reuses.

The paper prints Part II's index set as "j != 1"; CliqueNet updates every layer, and so does `update_first_layer`
(False: layer 1 keeps its Part I output, the literal reading). Whether Y_0 joins the output is not said
(`include_input`: DenseASPP yes, CliqueNet's stage II no). Convs are initialised He-uniform (DenseASPP's
kaiming_uniform), biases 0. BUILD_NOTES.md section 15 records each choice.

`CycleASPP(...)` returns a functional sub-model (as FeaturePyramidAttention): layers "<name><j>_1x1" (the
`CliqueConv1x1`, called by both parts), "<name><j>_3x3" (also called by both), Part I's "<name><j>_bn_input",
"<name><j>_bn_bottleneck", Part II's "<name><j>_feedback_bn_input", "<name><j>_feedback_bn_bottleneck".
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from li_seg.analysis.flops import elements, register_flop_rule
from li_seg.layers.aspp import BN_EPSILON
from li_seg.layers.normalization import BatchNormSettings, batch_norm

FEEDBACK = 2  # the `part` of a CliqueConv1x1 call in Part II (Part I is 1)


@keras.saving.register_keras_serializable(package="li_seg")
class CliqueConv1x1(keras.layers.Layer):
    """The 1x1 conv of one CycleASPP layer with one kernel per source layer (CliqueNet's W_ij), called as
    `layer(x, sources=(i, ...), part=1 or 2)` on the concatenation of those sources' outputs, in that order:
    conv1x1(x, concat[W_i for i in sources]) + bias.

    channels: the channel count of every layer of the chain, by index (0: the input Y_0).
    sources: the sources with a kernel "kernel_from_<i>" (Part I's, and with sharing also Part II's).
    feedback_sources: with `shared=False`, the sources of the Part II call, which get their own kernels
      ("kernel_feedback_from_<i>"); with sharing, Part II reads "kernel_from_<i>" as Part I does.
    """

    def __init__(self, filters: int, channels: Sequence[int], sources: Sequence[int],
                 feedback_sources: Sequence[int] = (), **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.sources, self.channels = tuple(int(i) for i in sources), tuple(int(c) for c in channels)
        self.feedback_sources = tuple(int(i) for i in feedback_sources)

    def build(self, input_shape):
        def kernel(name, source):
            return self.add_weight(name=name, shape=(1, 1, self.channels[source], self.filters),
                                   initializer=keras.initializers.HeUniform())

        # One attribute per kernel: TF checkpoints track a layer's variables by attribute, not inside Keras' tracked
        # lists, and SavedModels refuse dicts with integer keys.
        for i in self.sources:
            setattr(self, f"kernel_from_{i}", kernel(f"kernel_from_{i}", i))
        for i in self.feedback_sources:
            setattr(self, f"kernel_feedback_from_{i}", kernel(f"kernel_feedback_from_{i}", i))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    @property
    def source_kernels(self) -> dict:
        """{source: kernel variable "kernel_from_<source>"}."""
        return {i: getattr(self, f"kernel_from_{i}") for i in self.sources}

    @property
    def feedback_kernels(self) -> dict:
        """{source: Part II's own kernel "kernel_feedback_from_<source>"} (empty with sharing)."""
        return {i: getattr(self, f"kernel_feedback_from_{i}") for i in self.feedback_sources}

    def kernels(self, sources: Sequence[int], part: int = 1) -> list:
        """The kernel variables a call with `sources` in `part` reads, in order."""
        table = self.feedback_kernels if part == FEEDBACK and self.feedback_kernels else self.source_kernels
        missing = [i for i in sources if i not in table]
        if missing:
            raise ValueError(f"{self.name}: no kernel for sources {missing} in part {part} (has {sorted(table)})")
        return [table[i] for i in sources]

    def call(self, inputs, sources=(), part=1):
        kernels = self.kernels(sources, part)
        expected = sum(kernel.shape[2] for kernel in kernels)
        if inputs.shape[-1] != expected:
            raise ValueError(f"{self.name}: sources {tuple(sources)} have {expected} channels, the input "
                             f"{inputs.shape[-1]}")
        kernel = ops.concatenate([ops.cast(k, inputs.dtype) for k in kernels], axis=2)
        return ops.conv(inputs, kernel, padding="same") + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "channels": list(self.channels),
                "sources": list(self.sources), "feedback_sources": list(self.feedback_sources)}


@register_flop_rule(CliqueConv1x1)
def _clique_conv_flops(layer: CliqueConv1x1, call, convention) -> int:
    """A 1x1 conv with bias: 2 C_in F per output position (+ 1 per output element for the bias add)."""
    output = elements(call.output_shapes[0])
    return output * 2 * call.input_shapes[0][-1] + (output if convention.bias else 0)


def part_one_sources(j: int) -> tuple[int, ...]:
    """Part I layer j's sources, newest first: (j - 1, ..., 1, 0)."""
    return tuple(range(j - 1, -1, -1))


def part_two_sources(j: int, layers: int) -> tuple[int, ...]:
    """Part II layer j's sources: every other layer, J first: (J, ..., j + 1, j - 1, ..., 1)."""
    return tuple(i for i in range(layers, 0, -1) if i != j)


def CycleASPP(
    input_channels: int,
    bn: BatchNormSettings,
    rates: Sequence[int] = (3, 6, 12, 18, 24, 30),
    bottleneck_channels: int = 512,
    growth_channels: int = 128,
    feedback: bool = True,
    shared: bool = True,
    include_input: bool = True,
    update_first_layer: bool = True,
    input_bn: bool = False,
    dropout_rate: float = 0.1,
    name: str = "cycle_aspp",
) -> keras.Model:
    """CycleASPP on (B, h, w, input_channels) features (module docstring); `feedback=False` is DenseASPP (Part I
    alone). Returns a sub-model -> (B, h, w, len(rates) * growth_channels [+ input_channels])."""
    layers = len(rates)
    if not layers or min(rates) < 1:
        raise ValueError(f"CycleASPP needs at least one positive atrous rate, got {list(rates)}")
    features = keras.Input((None, None, input_channels), name=f"{name}_input")
    channels = (input_channels,) + (growth_channels,) * layers
    updated = [j for j in range(1, layers + 1) if feedback and (update_first_layer or j > 1)]

    convs_1x1, convs_3x3 = {}, {}
    for j, rate in enumerate(rates, start=1):
        feedback_sources = part_two_sources(j, layers) if j in updated else ()
        sources = sorted(set(part_one_sources(j)) | set(feedback_sources if shared else ()))
        convs_1x1[j] = CliqueConv1x1(bottleneck_channels, channels, sources,
                                     feedback_sources=() if shared else feedback_sources, name=f"{name}{j}_1x1")
        convs_3x3[j] = keras.layers.Conv2D(
            growth_channels, 3, padding="same", dilation_rate=rate, kernel_initializer="he_uniform",
            name=f"{name}{j}_3x3",
        )

    def layer(j: int, outputs: dict, sources: tuple, part: int):
        prefix = f"{name}{j}" if part == 1 else f"{name}{j}_feedback"
        x = [outputs[i] for i in sources]
        x = keras.layers.Concatenate(name=f"{prefix}_concat")(x) if len(x) > 1 else x[0]
        if part == FEEDBACK or j > 1 or input_bn:
            x = batch_norm(bn, BN_EPSILON, f"{prefix}_bn_input")(x)
        x = keras.layers.ReLU(name=f"{prefix}_relu_input")(x)
        x = convs_1x1[j](x, sources=sources, part=part)
        x = batch_norm(bn, BN_EPSILON, f"{prefix}_bn_bottleneck")(x)
        x = keras.layers.ReLU(name=f"{prefix}_relu_bottleneck")(x)
        x = convs_3x3[j](x)
        if dropout_rate:
            x = keras.layers.SpatialDropout2D(dropout_rate, name=f"{prefix}_dropout")(x)
        return x

    latest = {0: features}
    for j in range(1, layers + 1):
        latest[j] = layer(j, latest, part_one_sources(j), 1)
    for j in updated:
        latest[j] = layer(j, latest, part_two_sources(j, layers), FEEDBACK)
    kept = [latest[j] for j in range(layers, 0, -1)] + ([features] if include_input else [])
    output = keras.layers.Concatenate(name=f"{name}_output")(kept) if len(kept) > 1 else kept[0]
    return keras.Model(features, output, name=name)
