"""Tables of TF-slim and research/deeplab TF1 checkpoints (read with tf.train.load_checkpoint).

- `SLIM_RESNET`: TF-slim's resnet_v1_50 / 101 / 152 (nets/resnet_v1.py: a 7x7 "conv1") and research/deeplab's
  resnet_v1_50_beta / resnet_v1_101_beta (core/resnet_v1_beta.py: the stem "conv1_1" ... "conv1_3"), scope
  "resnet_v1_<depth>" (read from the file), into our ResNet in the slim layout (the layout these weights were
  trained in; they load into any layout of the same depth and stem). BN epsilon 1e-5 (resnet_arg_scope).
- `SLIM_MOBILENET_V2`: research/slim's MobileNetV2 as research/deeplab uses it (scope "MobilenetV2"; block n is
  "expanded_conv_n", block 0 "expanded_conv" without expansion), into our MobileNetV2 (Keras' names). BN epsilon
  1e-3 (slim batch_norm's default under mobilenet's training_scope).
- `RESEARCH_DEEPLAB_HEAD`: research/deeplab's DeepLabv3 / v3+ head (core/model.py): "image_pooling", "aspp0",
  "aspp<i>_depthwise" / "aspp<i>_pointwise" (split_separable_conv2d) or "aspp<i>", "concat_projection",
  "decoder/feature_projection0", "decoder/decoder_conv<i>_depthwise|pointwise", "logits/semantic" (with
  biases). BN epsilon 1e-5 (model.py's batch_norm_params).

Our variables -> theirs: a conv's "kernel" is "<scope>/weights" (depthwise: "depthwise_weights"), a bias
"biases", a BN's gamma / beta / moving_mean / moving_variance "<conv scope>/BatchNorm/<same name>". Layouts agree
(HWIO kernels, depthwise (3, 3, C, 1)): no transform.
"""

from __future__ import annotations

from li_seg.weights.mapping import BN_VARIABLES, Mapping, Rule, Variable

TF1_TRAINING_STATE = (r"global_step", r".*/Momentum", r".*/ExponentialMovingAverage", r".*/(Adam|Adam_1)",
                      r".*/(RMSProp|RMSProp_1)", r".*/biased", r".*/local_step")

KINDS = {
    "conv": {"kernel": Variable(("{p}/weights",)), "bias": Variable(("{p}/biases",))},
    "depthwise": {"kernel": Variable(("{p}/depthwise_weights",))},
    "bn": {name: Variable((f"{{p}}/BatchNorm/{name}",)) for name in BN_VARIABLES},
}

_UNIT = r"block(?P<b>\d)_unit(?P<u>\d+)_(?P<conv>conv[123]|shortcut)"

SLIM_RESNET = Mapping(
    name="TF-slim resnet_v1 (research/deeplab resnet_v1_beta)",
    rules=(
        Rule(r"conv1", "{scope}/conv1", "conv"),
        Rule(r"conv1_bn", "{scope}/conv1", "bn"),
        Rule(r"conv1_(?P<i>[123])", "{scope}/conv1_{i}", "conv"),
        Rule(r"conv1_(?P<i>[123])_bn", "{scope}/conv1_{i}", "bn"),
        Rule(_UNIT, "{scope}/block{b}/unit_{u}/bottleneck_v1/{conv}", "conv"),
        Rule(_UNIT + "_bn", "{scope}/block{b}/unit_{u}/bottleneck_v1/{conv}", "bn"),
    ),
    kinds=KINDS,
    ignored=(r"{scope}/logits/.*",) + TF1_TRAINING_STATE,  # the ImageNet classifier
    bn_epsilon=1e-5,
    # research/deeplab's feature_extractor: resnet_v1_* subtract _MEAN_RGB, resnet_v1_*_beta take [-1, 1]
    # (`li_seg.weights.backbone_mapping` picks by the file's stem)
    normalization="mean_rgb",
)

SLIM_MOBILENET_V2 = Mapping(
    name="research/slim MobilenetV2 (research/deeplab)",
    rules=(
        Rule(r"Conv1", "MobilenetV2/Conv", "conv"),
        Rule(r"bn_Conv1", "MobilenetV2/Conv", "bn"),
        Rule(r"expanded_conv_depthwise", "MobilenetV2/expanded_conv/depthwise", "depthwise"),
        Rule(r"expanded_conv_(?P<op>depthwise|project)_BN", "MobilenetV2/expanded_conv/{op}", "bn"),
        Rule(r"expanded_conv_project", "MobilenetV2/expanded_conv/project", "conv"),
        Rule(r"block_(?P<i>\d+)_depthwise", "MobilenetV2/expanded_conv_{i}/depthwise", "depthwise"),
        Rule(r"block_(?P<i>\d+)_(?P<op>expand|project)", "MobilenetV2/expanded_conv_{i}/{op}", "conv"),
        Rule(r"block_(?P<i>\d+)_(?P<op>expand|depthwise|project)_BN", "MobilenetV2/expanded_conv_{i}/{op}", "bn"),
    ),
    kinds=KINDS,
    # the final 1x1 1280 conv and the ImageNet classifier, which DeepLab does not build
    ignored=(r"MobilenetV2/Conv_1/.*", r"MobilenetV2/Logits/.*") + TF1_TRAINING_STATE,
    bn_epsilon=1e-3,
    normalization="unit_range",
)

RESEARCH_DEEPLAB_HEAD = Mapping(
    name="research/deeplab DeepLabv3 / v3+ head",
    rules=(
        Rule(r"aspp_image_pooling", "image_pooling", "conv"),
        Rule(r"aspp_image_pooling_bn", "image_pooling", "bn"),
        Rule(r"aspp(?P<i>\d)_depthwise", "aspp{i}_depthwise", "depthwise"),
        Rule(r"aspp(?P<i>\d)_pointwise", "aspp{i}_pointwise", "conv"),
        Rule(r"aspp(?P<i>\d)_(?P<op>depthwise|pointwise)_bn", "aspp{i}_{op}", "bn"),
        Rule(r"aspp(?P<i>\d)", "aspp{i}", "conv"),
        Rule(r"aspp(?P<i>\d)_bn", "aspp{i}", "bn"),
        Rule(r"aspp_concat_projection", "concat_projection", "conv"),
        Rule(r"aspp_concat_projection_bn", "concat_projection", "bn"),
        Rule(r"decoder_feature_projection", "decoder/feature_projection0", "conv"),
        Rule(r"decoder_feature_projection_bn", "decoder/feature_projection0", "bn"),
        Rule(r"decoder_conv(?P<i>\d)_depthwise", "decoder/decoder_conv{i}_depthwise", "depthwise"),
        Rule(r"decoder_conv(?P<i>\d)_pointwise", "decoder/decoder_conv{i}_pointwise", "conv"),
        Rule(r"decoder_conv(?P<i>\d)_(?P<op>depthwise|pointwise)_bn", "decoder/decoder_conv{i}_{op}", "bn"),
        # the non-separable decoder is slim.repeat(..., 2, conv2d, scope="decoder_conv0") (model.py)
        Rule(r"decoder_conv(?P<i>\d)", "decoder/decoder_conv0/decoder_conv0_{i_plus_1}", "conv"),
        Rule(r"decoder_conv(?P<i>\d)_bn", "decoder/decoder_conv0/decoder_conv0_{i_plus_1}", "bn"),
        Rule(r"logits", "logits/semantic", "conv"),
    ),
    kinds=KINDS,
    ignored=TF1_TRAINING_STATE,
    bn_epsilon=1e-5,
)
