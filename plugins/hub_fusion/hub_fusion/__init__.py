"""plughub fusion plugin: a `fusion` backbone over named parts from any plugin, and the
`multimodal` modality whose rows carry one column per part."""
