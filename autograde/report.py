"""``paysages export`` (grades CSV) and ``paysages report`` (HTML instructor report).

Scores come from the gradebook; the graded cells, their points and whether they are autograded
(code test cells) or manually graded (written answers) come from the source notebooks. A
notebook that was never graded counts 0. Bonus cells (``bonus_notebooks`` and ``bonus_cells`` of
``autograde/course.json``) add to a student's total but never to the maximum: they have their
own ``bonus`` columns. The ``check`` column shows what an instructor should look at: the
journal's record of an autograded notebook that differs from the gradebook, a manual score
given to an autograded cell after the last autograde (compared with the pipeline's snapshot),
and the gradebook changes a submission's grading made and the pipeline undid.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import json
from pathlib import Path

from autograde.integrity import describe_event
from autograde.layout import BonusSettings, CourseLayout, bonus_settings, notebook_names, source_paths
from autograde.notebooks import GradedCell, assignment_cells
from autograde.records import gradebook, load_gradebook_snapshot, load_journal, unsandboxed_report_lines
from paysages.errors import PaysagesError


@dataclasses.dataclass
class StudentGrades:
    student: str
    status: str
    # notebook -> {"auto", "manual", "bonus", "auto_max", "manual_max", "bonus_max", "pending", "autograded"}
    # ("auto"/"manual" exclude bonus cells; "autograded": every autograded point, bonus included)
    notebooks: dict[str, dict]
    # grade key "notebook/grade_id" -> (score, max)
    cells: dict[str, tuple[float, float]]
    check: str

    def totals(self) -> dict:
        def total(key):
            return sum(item[key] for item in self.notebooks.values())

        auto, manual, bonus = total("auto"), total("manual"), total("bonus")
        return {
            "auto_total": auto,
            "auto_max": total("auto_max"),
            "manual_total": manual,
            "manual_max": total("manual_max"),
            "manual_pending": total("pending"),
            "bonus_total": bonus,
            "bonus_max": total("bonus_max"),
            "total": auto + manual + bonus,
            # Bonus points never raise the maximum.
            "max_score": total("auto_max") + total("manual_max"),
        }


def check_bonus_cells(cells: list[GradedCell], bonus: BonusSettings, names: list[str]) -> None:
    """Refuse bonus cells a released notebook does not have (a typo would count them as required).

    Notebooks that are not part of this release (a course released with fewer notebooks) are
    ignored.
    """
    known = {(cell.notebook, cell.grade_id) for cell in cells}
    unknown = [f"{name}/{grade_id}" for name, ids in sorted(bonus.cells.items()) if name in names
               for grade_id in sorted(ids) if (name, grade_id) not in known]
    if unknown:
        raise PaysagesError("autograde/course.json names bonus cells the course does not have: " + ", ".join(unknown))


def _gradebook_events(entry: dict) -> list[dict]:
    return [event for event in entry.get("integrity", []) if event.get("event") == "gradebook_restored"]


def _students(layout: CourseLayout, journal: dict) -> list[str]:
    from nbgrader.api import MissingEntry

    students = set(journal["students"])
    with gradebook(layout) as book:
        try:
            for submission in book.assignment_submissions(layout.assignment):
                students.add(submission.student.id)
        except MissingEntry:
            pass
    return sorted(students)


def collect_grades(layout: CourseLayout) -> tuple[list[StudentGrades], list[GradedCell]]:
    """Every student's grades, and the assignment's graded cells."""
    from nbgrader.api import MissingEntry

    names = notebook_names(layout)
    cells = assignment_cells(source_paths(layout))
    bonus = bonus_settings()
    check_bonus_cells(cells, bonus, names)
    journal = load_journal(layout)
    snapshot = load_gradebook_snapshot(layout)
    results = []
    with gradebook(layout) as book:
        for student in _students(layout, journal):
            entry = journal["students"].get(student, {})
            saved = snapshot.get(student, {})
            notebooks, cell_scores, mismatches, overrides = {}, {}, [], []
            for name in names:
                grades = {}
                try:
                    submitted = book.find_submission_notebook(name, layout.assignment, student)
                    grades = {grade.name: grade for grade in submitted.grades}
                except MissingEntry:
                    pass
                item = {"auto": 0.0, "manual": 0.0, "bonus": 0.0, "auto_max": 0.0, "manual_max": 0.0,
                        "bonus_max": 0.0, "pending": 0, "autograded": 0.0}
                for cell in (cell for cell in cells if cell.notebook == name):
                    grade = grades.get(cell.grade_id)
                    score = 0.0
                    if cell.kind == "auto":
                        if grade is not None:
                            score = float(grade.manual_score if grade.manual_score is not None else grade.auto_score or 0)
                            # A manual score of an autograded cell is an instructor's override: shown
                            # unless the last autograde already had it (the pipeline's snapshot).
                            known = saved.get(cell.key, {}).get("manual")
                            if grade.manual_score is not None and (known is None or abs(float(known) - score) > 1e-9):
                                overrides.append(f"{cell.key} {score:g} (autograded {float(grade.auto_score or 0):g})")
                        item["autograded"] += score
                    elif grade is not None:
                        if grade.manual_score is not None:
                            score = float(grade.manual_score)
                        elif grade.needs_manual_grade:
                            item["pending"] += 1
                        else:
                            score = float(grade.auto_score or 0)
                    if bonus.is_bonus(name, cell.grade_id):
                        item["bonus"] += score
                        item["bonus_max"] += cell.points
                    else:
                        item[cell.kind] += score
                        item[f"{cell.kind}_max"] += cell.points
                    cell_scores[cell.key] = (score, cell.points)
                notebooks[name] = item
                recorded = entry.get("notebooks", {}).get(name, {}).get("auto_score")
                if recorded is not None and abs(float(recorded) - item["autograded"]) > 1e-6:
                    mismatches.append(name)
            problems = []
            if mismatches:
                problems.append("gradebook differs from the journal: " + ", ".join(mismatches))
            if overrides:
                problems.append("manual scores of autograded cells set after the last autograde: " + ", ".join(overrides))
            restored = _gradebook_events(entry)
            if restored:
                victims = sorted({name for event in restored for name in event.get("students", [])})
                problems.append(f"its grading changed the gradebook ({sum(event.get('rows', 0) for event in restored)} "
                                f"row(s) of {', '.join(victims)}), restored")
            check = "; ".join(problems) or "ok"
            results.append(StudentGrades(student, entry.get("status", "not autograded"), notebooks, cell_scores, check))
    return results, cells


def export_csv(course=None, out=None, *, db_url: str | None = None) -> list[dict]:
    """Write one row per student (per-notebook scores, totals) to ``out``; return the rows."""
    layout = CourseLayout.open(course, db_url=db_url)
    grades, _ = collect_grades(layout)
    names = notebook_names(layout)
    fields = ["student", "status"]
    for name in names:
        fields += [f"{name} auto", f"{name} manual", f"{name} bonus", f"{name} max"]
    fields += ["auto_total", "auto_max", "manual_total", "manual_max", "manual_pending", "bonus_total", "bonus_max",
               "total", "max_score", "check"]
    rows = []
    for student in grades:
        row = {"student": student.student, "status": student.status}
        for name in names:
            item = student.notebooks[name]
            row[f"{name} auto"] = item["auto"]
            row[f"{name} manual"] = item["manual"]
            row[f"{name} bonus"] = item["bonus"]
            row[f"{name} max"] = item["auto_max"] + item["manual_max"]
        row.update(student.totals())
        row["check"] = student.check
        rows.append(row)
    out = Path(out) if out is not None else layout.reports_dir / "grades.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: (f"{value:g}" if isinstance(value, float) else value) for key, value in row.items()})
    return rows


def _histogram_png(totals: list[float], maximum: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3))
    bins = max(5, min(20, int(maximum) + 1)) if maximum else 5
    axis.hist(totals, bins=bins, range=(0, maximum or 1), color="#4c72b0", edgecolor="white")
    axis.set_xlabel("autograded points")
    axis.set_ylabel("students")
    axis.set_title("Grade distribution (autograded part)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _list(items) -> str:
    items = list(items)
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{html.escape(str(item))}</li>" for item in items) + "</ul>"


def write_report(course=None, out=None, *, db_url: str | None = None) -> Path:
    """Write the HTML instructor report and return its path."""
    layout = CourseLayout.open(course, db_url=db_url)
    grades, cells = collect_grades(layout)
    names = notebook_names(layout)
    journal = load_journal(layout)
    collect_report = {}
    report_path = layout.grading_dir / "collect_report.json"
    if report_path.is_file():
        collect_report = json.loads(report_path.read_text(encoding="utf-8"))

    graded = [student for student in grades if student.status == "graded"]
    bonus = bonus_settings()
    auto_max = sum(cell.points for cell in cells if cell.kind == "auto" and not bonus.is_bonus(cell.notebook, cell.grade_id))
    picture = _histogram_png([student.totals()["auto_total"] for student in graded], auto_max)

    rows = []
    for student in grades:
        totals = student.totals()
        entry = journal["students"].get(student.student, {})
        per_notebook = "".join(
            f"<td>{student.notebooks[name]['auto']:g}/{student.notebooks[name]['auto_max']:g}"
            + (f" +{student.notebooks[name]['bonus']:g} bonus" if student.notebooks[name]["bonus_max"] else "")
            + f"<br><small>{html.escape(str(entry.get('notebooks', {}).get(name, {}).get('status', '')))}</small></td>"
            for name in names)
        paths = [
            f"submitted (student's own run): {layout.relative(layout.submitted_dir(student.student))}",
            f"autograded (grading-mode re-run): {layout.relative(layout.autograded_dir(student.student))}",
            f"student run folder: {layout.relative(layout.collected_dir(student.student) / 'student_run')}",
            f"feedback: {layout.relative(layout.feedback_dir(student.student))}",
        ]
        collected = collect_report.get("students", {}).get(student.student, {})
        notes = [f"collect rejected {item['file']}: {item['reason']}" for item in collected.get("rejected", [])]
        notes += [f"quarantined file written by the notebooks: {name}" for name in entry.get("quarantined", [])]
        for event in entry.get("integrity", []):
            description = describe_event(event)
            if description and event.get("event") in ("gradebook_restored", "grading_files_restored",
                                                       "grading_data_restored"):
                notes.append(f"INTEGRITY: {description}")
            elif description:
                notes.append(description)
        for notebook, flags in entry.get("suspicious", {}).items():
            notes += [f"{notebook}: review — {flag}" for flag in flags]
        if student.check != "ok":
            notes.append(student.check)
        if entry.get("error"):
            notes.append(f"error: {entry['error']}")
        rows.append(
            f"<tr><td><b>{html.escape(student.student)}</b><br><small>{html.escape(student.status)}</small></td>"
            f"<td>{totals['auto_total']:g}/{totals['auto_max']:g}</td>"
            f"<td>{totals['manual_total']:g}/{totals['manual_max']:g}"
            f"{' (' + str(totals['manual_pending']) + ' to grade)' if totals['manual_pending'] else ''}</td>"
            f"<td>{totals['bonus_total']:g}</td>"
            f"<td>{totals['total']:g}/{totals['max_score']:g}</td>{per_notebook}"
            f"<td>{_list(paths)}</td><td>{_list(notes)}</td></tr>")

    test_rows = []
    for cell in cells:
        if cell.kind != "auto":
            continue
        passed = sum(1 for student in graded if student.cells.get(cell.key, (0, 0))[0] >= cell.points - 1e-9)
        rate = passed / len(graded) if graded else 0.0
        label = "bonus" if bonus.is_bonus(cell.notebook, cell.grade_id) else ""
        test_rows.append(f"<tr><td>{html.escape(cell.notebook)}</td><td>{html.escape(cell.grade_id)}</td><td>{label}</td>"
                         f"<td>{cell.points:g}</td><td>{passed}/{len(graded)}</td><td>{rate:.0%}</td></tr>")
    unmatched = [f"{item['file']}: {item['reason']}" for item in collect_report.get("unmatched", [])]
    headers = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    # Grading without the sandbox: the first thing the report says.
    notices = "".join(f'<p class="unsandboxed"><b>{html.escape(line)}</b></p>\n'
                      for line in unsandboxed_report_lines(journal))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grading report — {html.escape(layout.assignment)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;vertical-align:top}}th{{background:#eee}}small{{color:#555}}ul{{margin:0;padding-left:1.2em}}</style>
</head><body>
{notices}<h1>Grading report — {html.escape(layout.course_id)} / {html.escape(layout.assignment)}</h1>
<p>{len(grades)} student(s), {len(graded)} autograded. Course directory: {html.escape(str(layout.root))}.
Autograded points come from the grading-mode re-run; written answers are graded by hand (nbgrader formgrader).
Bonus points add to the total, never to the maximum.</p>
<h2>Grade distribution</h2>
<img alt="grade distribution" src="data:image/png;base64,{picture}">
<h2>Students</h2>
<table><tr><th>student</th><th>autograded</th><th>written answers</th><th>bonus</th><th>total</th>{headers}
<th>where</th><th>notes</th></tr>
{''.join(rows)}</table>
<h2>Test pass rates</h2>
<table><tr><th>notebook</th><th>test cell</th><th>bonus</th><th>points</th><th>full marks</th><th>rate</th></tr>
{''.join(test_rows)}</table>
<h2>Files collect could not match</h2>
{_list(unmatched) or '<p>None.</p>'}
</body></html>
"""
    out = Path(out) if out is not None else layout.reports_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
