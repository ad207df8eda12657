"""The TFLite (LiteRT) flatbuffer schema: LiteRT's generated module, else TensorFlow's.

The converter writes metadata with it, the session validates files before the C++
interpreter sees them, and the cost, op and weight readers walk the graph with it.
"""

from __future__ import annotations

from types import ModuleType


def schema() -> ModuleType:
    """The generated `schema_py_generated` module (Model, ModelT, BufferT, ...)."""
    try:
        from ai_edge_litert import schema_py_generated as generated
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as generated
    return generated
