"""Keras builds of the published benchmark models that keras.applications lacks, for their costs
only (random weights, never trained): ResNet-18, SqueezeNet 1.1 and YOLOv8n.

Each follows its reference definition; the cost table records the total it lands on next to the
published figure (e.g. YOLOv8n: 8.7 GFLOPs at 640 in Ultralytics' model table).
"""

from __future__ import annotations


def resnet18(size: int = 224):
    """torchvision resnet18 (He et al. 2016, Table 1): 1.8 G MACs, 11.7 M parameters."""
    import keras
    from keras import layers

    def block(x, ch, stride):
        y = layers.Conv2D(ch, 3, stride, padding="same", use_bias=False)(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(ch, 3, padding="same", use_bias=False)(y))
        if stride != 1 or x.shape[-1] != ch:
            x = layers.BatchNormalization()(layers.Conv2D(ch, 1, stride, use_bias=False)(x))
        return layers.ReLU()(layers.Add()([x, y]))

    inp = keras.Input((size, size, 3))
    x = layers.Conv2D(64, 7, 2, padding="same", use_bias=False)(inp)
    x = layers.MaxPooling2D(3, 2, padding="same")(layers.ReLU()(layers.BatchNormalization()(x)))
    for ch, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        x = block(block(x, ch, stride), ch, 1)
    out = layers.Dense(1000)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out, name="resnet18")


def squeezenet1_1(size: int = 227):
    """torchvision squeezenet1_1 (Iandola et al. 2016, v1.1): 0.35 G MACs, 1.2 M parameters."""
    import keras
    from keras import layers

    def fire(x, s, e):
        x = layers.Conv2D(s, 1, activation="relu")(x)
        a = layers.Conv2D(e, 1, activation="relu")(x)
        b = layers.Conv2D(e, 3, padding="same", activation="relu")(x)
        return layers.Concatenate()([a, b])

    inp = keras.Input((size, size, 3))
    x = layers.Conv2D(64, 3, 2, activation="relu")(inp)
    x = layers.MaxPooling2D(3, 2)(x)
    x = fire(fire(x, 16, 64), 16, 64)
    x = layers.MaxPooling2D(3, 2)(x)
    x = fire(fire(x, 32, 128), 32, 128)
    x = layers.MaxPooling2D(3, 2)(x)
    for s, e in ((48, 192), (48, 192), (64, 256), (64, 256)):
        x = fire(x, s, e)
    x = layers.Conv2D(1000, 1, activation="relu")(x)
    return keras.Model(inp, layers.GlobalAveragePooling2D()(x), name="squeezenet1_1")


def yolov8n(size: int = 640, classes: int = 80):
    """Ultralytics yolov8n.yaml (depth 0.33, width 0.25): 8.7 GFLOPs, 3.2 M parameters."""
    import keras
    from keras import layers

    def conv(x, ch, k=1, s=1):
        x = layers.Conv2D(ch, k, s, padding="same", use_bias=False)(x)
        return layers.Activation("silu")(layers.BatchNormalization()(x))

    def c2f(x, ch, n, shortcut=True):
        x = conv(x, ch, 1)
        a, b = layers.Lambda(lambda t: (t[..., : ch // 2], t[..., ch // 2 :]))(x)
        parts = [a, b]
        for _ in range(n):
            y = conv(conv(parts[-1], ch // 2, 3), ch // 2, 3)
            parts.append(layers.Add()([parts[-1], y]) if shortcut else y)
        return conv(layers.Concatenate()(parts), ch, 1)

    def sppf(x, ch):
        x = conv(x, ch // 2, 1)
        p1 = layers.MaxPooling2D(5, 1, padding="same")(x)
        p2 = layers.MaxPooling2D(5, 1, padding="same")(p1)
        p3 = layers.MaxPooling2D(5, 1, padding="same")(p2)
        return conv(layers.Concatenate()([x, p1, p2, p3]), ch, 1)

    inp = keras.Input((size, size, 3))
    x = c2f(conv(conv(inp, 16, 3, 2), 32, 3, 2), 32, 1)
    p3 = c2f(conv(x, 64, 3, 2), 64, 2)
    p4 = c2f(conv(p3, 128, 3, 2), 128, 2)
    p5 = sppf(c2f(conv(p4, 256, 3, 2), 256, 1), 256)
    up = layers.UpSampling2D()
    h4 = c2f(layers.Concatenate()([up(p5), p4]), 128, 1, False)
    h3 = c2f(layers.Concatenate()([layers.UpSampling2D()(h4), p3]), 64, 1, False)
    h4 = c2f(layers.Concatenate()([conv(h3, 64, 3, 2), h4]), 128, 1, False)
    h5 = c2f(layers.Concatenate()([conv(h4, 128, 3, 2), p5]), 256, 1, False)
    outs = []
    for f in (h3, h4, h5):
        box = layers.Conv2D(64, 1)(conv(conv(f, 64, 3), 64, 3))
        cls = layers.Conv2D(classes, 1)(conv(conv(f, 80, 3), 80, 3))
        outs.append(layers.Concatenate()([box, cls]))
    return keras.Model(inp, outs, name="yolov8n")


def efficientnet_lite0(size: int = 224, classes: int = 1000):
    """EfficientNet-Lite0 (tensorflow/tpu models/official/efficientnet/lite/README.md): the
    EfficientNet-B0 MBConv stack without squeeze-and-excite and with ReLU6 for swish; 4.7 M
    parameters. Costing it as B0 counts 16 squeeze-excite blocks (a pool, two dense layers and
    a multiply each) and unfused swish ops that Lite0 does not have."""
    import keras
    from keras import layers

    def conv_bn(x, ch, k=1, s=1, act=True):
        x = layers.BatchNormalization()(layers.Conv2D(ch, k, s, padding="same", use_bias=False)(x))
        return layers.ReLU(6.0)(x) if act else x

    def mbconv(x, expand, ch, k, s):
        y = conv_bn(x, x.shape[-1] * expand) if expand != 1 else x
        y = layers.DepthwiseConv2D(k, s, padding="same", use_bias=False)(y)
        y = conv_bn(layers.ReLU(6.0)(layers.BatchNormalization()(y)), ch, act=False)
        return layers.Add()([x, y]) if s == 1 and x.shape[-1] == ch else y

    inp = keras.Input((size, size, 3))
    x = conv_bn(inp, 32, 3, 2)
    # (expand ratio, channels, repeats, stride, kernel): B0's stages, efficientnet_builder.py
    for expand, ch, n, s, k in ((1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5),
                                (6, 80, 3, 2, 3), (6, 112, 3, 1, 5), (6, 192, 4, 2, 5),
                                (6, 320, 1, 1, 3)):  # fmt: skip
        for i in range(n):
            x = mbconv(x, expand, ch, k, s if i == 0 else 1)
    x = layers.GlobalAveragePooling2D()(conv_bn(x, 1280))
    return keras.Model(inp, layers.Dense(classes)(x), name="efficientnet_lite0")
