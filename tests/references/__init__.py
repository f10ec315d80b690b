"""Independent re-derivations of reference implementations (loops, written from the references' behaviour)."""
