"""Integrity guard that runs INSIDE the grading kernel, before and after every graded cell.

:class:`autograde.preprocessors.GradingExecute` sends this file's text to each grading kernel
right after it starts (nothing is imported from the repository by the kernel for it). It then
calls ``before_graded_cell()`` silently before each test cell and ``after_graded_cell()``
after it. Before a test cell runs, the guard undoes what a submission may have done to fool it:

* library functions replaced by notebook code (``np.allclose = lambda *a, **k: True``,
  ``keras.Model.evaluate = ...``, ``builtins.len = ...``) get their original back;
* modules replaced in ``sys.modules`` get their original back, and import hooks the notebook
  added to ``sys.meta_path`` are removed;
* the ``PAYSAGES_*`` environment variables the grader set (run folder, data root, mode) get
  their values back, and ones the notebook added are removed, so that the hidden tests'
  ``get_settings()`` reads the grader's run folder and data, not a folder of forged results;
* IPython hooks that can hide errors (input or AST transformers, an instance-level
  ``showtraceback`` or ``run_cell``, custom exception handlers) are reset;
* notebook globals that shadow built-in names (``len = ...``) are hidden while the test cell
  runs, then put back, so that the student's own later cells still see them.

What was restored is reported back to the grader and listed in the grading report. This is a
safety net for the common tricks, not a sandbox: the hidden tests still recompute results from
the student's saved artifacts rather than trusting printed values.
"""

import builtins as _builtins
import sys as _sys
import types as _types

# Modules imported at install time (their state then is the reference) and modules snapshotted
# the first time they are seen already imported.
PRELOADED_MODULES = ("numpy", "numpy.testing", "pandas", "keras", "paysages.checks", "paysages.runs")
WATCHED_MODULES = PRELOADED_MODULES + (
    "builtins", "math", "json", "os", "os.path", "numpy.linalg", "numpy.random", "keras.ops",
    "keras.saving", "keras.models", "keras.layers", "keras.callbacks", "sklearn.metrics",
    "paysages.data", "paysages.data.access", "paysages.data.loading", "paysages.split", "paysages.training",
)
WATCHED_CLASSES = (
    ("keras", "Model"), ("keras", "Sequential"), ("keras", "Layer"),
    ("keras.callbacks", "History"), ("paysages.runs", "RunFolder"),
    ("pandas", "DataFrame"), ("pandas", "Series"),
    ("IPython.core.interactiveshell", "InteractiveShell"),
    ("ipykernel.zmqshell", "ZMQInteractiveShell"),
    ("ipykernel.ipkernel", "IPythonKernel"),
    ("ipykernel.kernelbase", "Kernel"),
)
# Builtins that IPython and ipykernel legitimately replace around every execution.
_VOLATILE_BUILTINS = {"input", "raw_input", "getpass", "exit", "quit", "get_ipython", "display",
                      "__IPYTHON__", "_", "__", "___", "__builtins__", "__import__", "help",
                      "copyright", "credits", "license"}

_state = {
    "modules": {},        # module name -> {attribute: value}
    "classes": {},        # class -> {attribute: value}
    "sys_modules": {},    # module name -> module object
    "shell": None,
    "shell_lists": {},
    "shell_attributes": None,
    "kernel_attributes": None,
    "streams": None,
    "user_builtin_names": {},
    "hidden": {},
    "environ": None,
    "environment": None,
    "report": [],
}
# start() writes the mode it resolved; under grading that is always "fast", which is no tampering.
_EXPECTED_ADDITIONS = {"PAYSAGES_MODE": "fast"}


def _function_of(value):
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    if isinstance(value, property):
        return value.fget
    return getattr(value, "__func__", value)


def _from_notebook(value) -> bool:
    """True for a function (or method, lambda, property) defined in a notebook cell."""
    function = _function_of(value)
    module = getattr(function, "__module__", None)
    if module == "__main__":
        return True
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    filename = code.co_filename or ""
    return filename.startswith("<ipython-input") or "ipykernel_" in filename


def _is_tracked(value) -> bool:
    return callable(value) and not isinstance(value, _types.ModuleType)


def _is_method_like(value) -> bool:
    return _is_tracked(value) or isinstance(value, (staticmethod, classmethod, property))


def _snapshot_module(name):
    module = _sys.modules.get(name)
    if module is None or name in _state["modules"]:
        return
    _state["modules"][name] = {key: value for key, value in vars(module).items() if _is_tracked(value)}
    _state["sys_modules"][name] = module


def _snapshot_class(cls):
    for klass in cls.__mro__:
        if klass is object or klass in _state["classes"]:
            continue
        try:
            attributes = dict(vars(klass))
        except TypeError:
            continue
        _state["classes"][klass] = {key: value for key, value in attributes.items() if _is_method_like(value)}


def _snapshot_classes():
    for module_name, class_name in WATCHED_CLASSES:
        module = _sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type):
            original = _state["modules"].get(module_name, {}).get(class_name, cls)
            if isinstance(original, type):
                _snapshot_class(original)


def _note(message):
    _state["report"].append(message)


def _restore_modules():
    for name, attributes in _state["modules"].items():
        original_module = _state["sys_modules"].get(name)
        if original_module is not None and _sys.modules.get(name) is not original_module:
            _sys.modules[name] = original_module
            _note(f"sys.modules[{name!r}] restored")
        module = original_module or _sys.modules.get(name)
        if module is None:
            continue
        current = vars(module)
        for key, value in attributes.items():
            if name == "builtins" and key in _VOLATILE_BUILTINS:
                continue
            if current.get(key, _state) is not value:
                setattr(module, key, value)
                _note(f"{name}.{key} restored")
        for key in [key for key, value in current.items() if key not in attributes and _is_tracked(value)]:
            if _from_notebook(current[key]):
                delattr(module, key)
                _note(f"{name}.{key} (added by the notebook) removed")


def _restore_classes():
    for klass, attributes in _state["classes"].items():
        current = dict(vars(klass))
        for key, value in attributes.items():
            if current.get(key, _state) is not value:
                try:
                    setattr(klass, key, value)
                    _note(f"{klass.__module__}.{klass.__qualname__}.{key} restored")
                except (AttributeError, TypeError):
                    pass
        for key, value in current.items():
            if key not in attributes and _is_method_like(value) and _from_notebook(value):
                try:
                    delattr(klass, key)
                    _note(f"{klass.__module__}.{klass.__qualname__}.{key} (added by the notebook) removed")
                except (AttributeError, TypeError):
                    pass


def _restore_instance(instance, baseline, label):
    if instance is None or baseline is None:
        return
    current = vars(instance)
    for key in list(current):
        value = current[key]
        if not callable(value) or not _from_notebook(value):
            continue
        if key in baseline:
            current[key] = baseline[key]
        else:
            del current[key]
        _note(f"{label}.{key} (replaced by the notebook) restored")


def _restore_shell():
    shell = _state["shell"]
    if shell is None:
        return
    for name, baseline in _state["shell_lists"].items():
        current = getattr(shell, name, None)
        if isinstance(current, list) and current != baseline:
            current[:] = baseline
            _note(f"IPython {name} reset")
        elif not isinstance(current, list):
            setattr(shell, name, list(baseline))
            _note(f"IPython {name} reset")
    if getattr(shell, "custom_exceptions", ()) != ():
        shell.custom_exceptions = ()
        _note("IPython custom exception handler removed")
    _restore_instance(shell, _state["shell_attributes"], "get_ipython()")
    _restore_instance(getattr(shell, "kernel", None), _state["kernel_attributes"], "kernel")
    streams = _state["streams"]
    for name, original in (streams or {}).items():
        if getattr(_sys, name) is not original:
            setattr(_sys, name, original)
            _note(f"sys.{name} restored")


def _restore_environment():
    import os

    baseline = _state["environment"]
    if baseline is None:
        return
    if os.environ is not _state["environ"]:
        os.environ = _state["environ"]
        _note("os.environ (replaced by the notebook) restored")
    for name in [name for name in os.environ if name.startswith("PAYSAGES_") and name not in baseline]:
        value = os.environ.pop(name)
        if _EXPECTED_ADDITIONS.get(name) != value:
            _note(f"os.environ[{name!r}] (set by the notebook) removed")
    for name, value in baseline.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
            _note(f"os.environ[{name!r}] restored")


def _remove_import_hooks():
    finders = [finder for finder in _sys.meta_path if _from_notebook(getattr(type(finder), "find_spec", None))
               or _from_notebook(getattr(finder, "find_spec", None))]
    for finder in finders:
        _sys.meta_path.remove(finder)
        _note("an import hook defined by the notebook was removed from sys.meta_path")


def _hide_shadowed_builtins():
    shell = _state["shell"]
    if shell is None:
        return
    namespace = shell.user_ns
    if namespace.get("__builtins__") not in (_builtins, vars(_builtins)):
        namespace["__builtins__"] = _builtins
        _note("__builtins__ of the notebook restored")
    baseline = _state["user_builtin_names"]
    hidden = {}
    for name in dir(_builtins):
        if name.startswith("__"):
            continue  # __doc__, __name__...: module attributes of the notebook, not shadows.
        if name in namespace and name not in _VOLATILE_BUILTINS and namespace[name] is not baseline.get(name, _state):
            hidden[name] = namespace.pop(name)
    if hidden:
        _note("notebook globals shadowing built-ins hidden during the test: " + ", ".join(sorted(hidden)))
    _state["hidden"] = hidden


def install():
    """Take the reference snapshots; called once, right after the kernel starts."""
    import importlib
    import os

    cwd = os.getcwd()
    _sys.path[:] = [entry for entry in _sys.path if entry not in ("", ".", cwd)]
    _state["environ"] = os.environ
    _state["environment"] = {name: value for name, value in os.environ.items() if name.startswith("PAYSAGES_")}
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # A missing optional library is not the guard's business.
            pass
    for name in WATCHED_MODULES:
        _snapshot_module(name)
    _snapshot_classes()
    try:
        shell = get_ipython()  # noqa: F821 (defined in every IPython kernel)
    except NameError:
        shell = None
    _state["shell"] = shell
    if shell is not None:
        for name in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
            value = getattr(shell, name, None)
            if isinstance(value, list):
                _state["shell_lists"][name] = list(value)
        _state["shell_attributes"] = dict(vars(shell))
        kernel = getattr(shell, "kernel", None)
        _state["kernel_attributes"] = dict(vars(kernel)) if kernel is not None else None
        _state["user_builtin_names"] = {name: shell.user_ns[name] for name in dir(_builtins) if name in shell.user_ns}
    # IPython swaps sys.displayhook and sys.excepthook around executions: only streams are kept.
    _state["streams"] = {name: getattr(_sys, name) for name in ("stdout", "stderr")}


def before_graded_cell():
    """Undo tampering before a graded cell; return the list of what was restored."""
    _state["report"] = []
    for name in WATCHED_MODULES:
        _snapshot_module(name)
    _snapshot_classes()
    _restore_modules()
    _restore_classes()
    _restore_shell()
    _restore_environment()
    _remove_import_hooks()
    _hide_shadowed_builtins()
    return list(_state["report"])


def after_graded_cell():
    """Give the notebook back the globals hidden during the test cell."""
    shell = _state["shell"]
    if shell is not None:
        for name, value in _state["hidden"].items():
            shell.user_ns.setdefault(name, value)
    _state["hidden"] = {}
    return True
