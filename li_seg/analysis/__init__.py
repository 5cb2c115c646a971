"""Model analysis: the layer calls of a model at a given input size (`layer_calls`) and its FLOPs (`flops`)."""
