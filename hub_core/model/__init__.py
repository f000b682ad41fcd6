"""What a model is: the Backbone/Head/Preprocessor/Task contracts, HubModel, the model
directory (hub.json + model.safetensors) and its weights.

May import: hub_core.plugin, hub_core.common.
"""
