"""The commands of ``nnjobs`` (:mod:`client.cli`), a module per resource."""
