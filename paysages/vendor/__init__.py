"""Third-party files bundled with the student package (each folder has a README naming its source)."""
