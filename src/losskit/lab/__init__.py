"""The lab: ``losskit compare`` trains a model with each candidate loss and compares them."""
