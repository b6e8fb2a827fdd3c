"""The parameter documentation shared by the four network estimators (one place, not four)."""

COMMON = """
    hidden_layer_sizes : tuple of int, default=(100, 100)
        Neurons of each hidden layer.
    activation : {"elu", "relu", "leaky_relu", "prelu", "rrelu", "selu", "gelu", "swish", "tanh"}, default="elu"
        Hidden activation (the book's default DNN configuration: ELU, or ReLU).
    initializer : {"he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "lecun_uniform"}, default="he_normal"
        Weight initialisation of every linear layer (biases start at zero).
    batch_norm : "auto" or bool, default="auto"
        Batch normalisation after each hidden linear layer; "auto" turns it on for deep networks
        (4 hidden layers or more).
    layer_norm : bool, default=False
        Layer normalisation instead (ignored when batch normalisation is on).
    dropout : float, default=0.0
        Dropout rate after each hidden layer; alpha dropout when the activation is SELU. Also what
        Monte Carlo dropout (``mc_samples``) samples from.
    self_normalizing : bool, default=False
        The self-normalising configuration in one argument: SELU, LeCun normal initialisation,
        alpha dropout, standardised inputs, no batch normalisation.
    max_norm : float or None, default=None
        Max-norm constraint: after each step, every unit's incoming weight vector is rescaled to an
        L2 norm of at most ``max_norm``.
    l1, l2 : float, default=0.0
        L1 and L2 penalties on the weights of every linear layer (added to the training loss).
    clip_value, clip_norm : float or None, default=None
        Gradient clipping by value and by global norm.
    optimizer : {"adamw", "nadam", "adam", "rmsprop", "adagrad", "nesterov", "momentum", "sgd"}, default="adamw"
        "momentum" and "nesterov" are SGD with ``momentum``; RMSProp uses rho = 0.9.
    learning_rate : float, default=1e-3
        The rate (the peak of the 1cycle schedule).
    momentum : float, default=0.9
        Momentum of the "momentum" and "nesterov" optimisers.
    weight_decay : float, default=0.01
        Decoupled weight decay of AdamW (the other optimisers use ``l2``).
    schedule : str, Schedule or None, default="1cycle"
        Learning-rate schedule: "constant", "power", "exponential", "piecewise", "performance",
        "1cycle", or a :mod:`mlcraft.nn.schedules` instance with other settings.
    batch_size : int, default=32
    max_epochs : int, default=100
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows; stop when the validation loss has not improved
        for ``patience`` epochs and restore the best epoch's weights.
    validation_fraction : float, default=0.1
    patience : int, default=10
    scale_inputs : bool, default=True
        Standardise numeric inputs with the training mean and deviation.
    categorical_features : "from_dtype", None, or indices / mask, default="from_dtype"
        Columns holding categories: pandas ``category`` columns, or integer codes at these indices.
        Each is one-hot encoded inside the network, or embedded when it has more than
        ``max_onehot_categories`` categories.
    max_onehot_categories : int, default=10
    embedding_dim : int or None, default=None
        Width of every embedding; None uses the rule of thumb ``min(600, round(1.6 * n ** 0.56))``.
        The choice per column is recorded in ``config_["categorical"]``.
    callbacks : list of mlcraft.nn.callbacks.Callback, default=None
        Extra callbacks (Keras-style hooks).
    checkpoint_path : str or None, default=None
        Save the best epoch's weights there (atomically) during ``fit``.
    tensorboard_dir : str or None, default=None
        Write TensorBoard event logs there (``tensorboard --logdir`` opens them).
    verbose : int, default=0
        1 shows a progress bar per epoch.
    device : str, default="auto"
        "auto" uses a CUDA GPU when one is present, else the CPU; or "cpu", "cuda", "cuda:1".
    num_threads : int or None, default=None
        CPU threads torch uses while fitting and predicting (None leaves torch's setting).
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, dropout and the validation split: the same seed gives the
        same weights on the CPU."""

ATTRIBUTES = """
    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network.
    history_ : dict of lists
        Per epoch: ``epoch``, ``loss``, ``val_loss``, the metric on training and validation rows,
        ``lr`` and ``time_s``.
    n_iter_ : int
        Epochs run. ``best_epoch_``: the epoch whose weights were kept.
    stop_reason_ : str
        Why training stopped (max_epochs, early stopping, divergence).
    config_ : dict
        Resolved choices: layers, activation, initialiser, normalisation, dropout kind, optimiser,
        schedule, parameter count, and per categorical column its encoding and width."""
