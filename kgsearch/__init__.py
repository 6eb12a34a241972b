"""kgsearch: semantic search over a knowledge graph and documents.

The application shell: settings, the :class:`~kgsearch.engine.Engine` that wires
the layers together, and the command line. Importing it loads no heavy dependency.
"""

__version__ = "0.1.0"
