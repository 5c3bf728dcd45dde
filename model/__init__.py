"""Character-level delimiter tagger: vocabulary, network, training, inference, scores."""
