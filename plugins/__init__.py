"""Built-in postprocessing plugins, registered through the ``drumscribe`` entry-point group."""
