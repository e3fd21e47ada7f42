"""Exception types raised by the kit, each carrying a message that says what to do."""


class PaysagesError(Exception):
    """Base class for every error the kit raises on purpose."""


class DatasetError(PaysagesError):
    """A dataset is missing, incomplete or does not match its registry entry."""


class OfflineError(DatasetError):
    """A download was needed but no network (or no server) could be reached."""


class DownloadError(DatasetError):
    """A download started but could not be completed or verified."""


class ArchiveError(DatasetError):
    """An archive is corrupt, unsafe or does not have the expected layout."""


class FingerprintError(ArchiveError):
    """An archive's SHA-256 or size differs from the one recorded in the dataset registry."""


class SplitError(PaysagesError):
    """A split file is missing, malformed or does not match the dataset on disk."""


class PrerequisiteError(PaysagesError):
    """A notebook needs a result that an earlier notebook has not produced yet."""
