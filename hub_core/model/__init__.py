"""What a model is: the Backbone/Head/Preprocessor/Task contracts (with the default hooks a
composite backbone overrides), HubModel and the model directory (hub.json +
model.safetensors), ``build`` (``create_model`` / ``load_model``: the only constructor)
and ``adapt`` (freeze, LoRA, merge).

May import: hub_core.plugin, hub_core.common.
"""
