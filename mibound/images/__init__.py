"""Images as views: invertible colour spaces, view makers (crops at a distance, colour splits,
augmentations), scikit-image's photographs and the learnable InfoMin colour flow."""
