"""``paysages export`` (grades CSV) and ``paysages report`` (HTML instructor report).

Scores come from the gradebook; the graded cells, their points and whether they are autograded
(code test cells) or manually graded (written answers) come from the source notebooks. A
notebook that was never graded counts 0. The journal's record of each autograded notebook is
compared with the gradebook: a difference (a gradebook changed behind the pipeline's back, or a
manual regrade) is shown in the ``check`` column.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import json
from pathlib import Path

from autograde.layout import CourseLayout
from autograde.notebooks import GradedCell, assignment_cells
from autograde.pipeline import gradebook, load_journal, notebook_names, source_paths


@dataclasses.dataclass
class StudentGrades:
    student: str
    status: str
    # notebook -> {"auto", "manual", "auto_max", "manual_max", "pending"}
    notebooks: dict[str, dict]
    # grade key "notebook/grade_id" -> (score, max)
    cells: dict[str, tuple[float, float]]
    check: str

    def totals(self) -> dict:
        auto = sum(item["auto"] for item in self.notebooks.values())
        manual = sum(item["manual"] for item in self.notebooks.values())
        return {
            "auto_total": auto,
            "auto_max": sum(item["auto_max"] for item in self.notebooks.values()),
            "manual_total": manual,
            "manual_max": sum(item["manual_max"] for item in self.notebooks.values()),
            "manual_pending": sum(item["pending"] for item in self.notebooks.values()),
            "total": auto + manual,
            "max_score": sum(item["auto_max"] + item["manual_max"] for item in self.notebooks.values()),
        }


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
    journal = load_journal(layout)
    results = []
    with gradebook(layout) as book:
        for student in _students(layout, journal):
            entry = journal["students"].get(student, {})
            notebooks, cell_scores, mismatches = {}, {}, []
            for name in names:
                grades = {}
                try:
                    submitted = book.find_submission_notebook(name, layout.assignment, student)
                    grades = {grade.name: grade for grade in submitted.grades}
                except MissingEntry:
                    pass
                item = {"auto": 0.0, "manual": 0.0, "auto_max": 0.0, "manual_max": 0.0, "pending": 0}
                for cell in (cell for cell in cells if cell.notebook == name):
                    grade = grades.get(cell.grade_id)
                    if cell.kind == "auto":
                        item["auto_max"] += cell.points
                        score = 0.0
                        if grade is not None:
                            score = float(grade.manual_score if grade.manual_score is not None else grade.auto_score or 0)
                        item["auto"] += score
                    else:
                        item["manual_max"] += cell.points
                        score = 0.0
                        if grade is not None:
                            if grade.manual_score is not None:
                                score = float(grade.manual_score)
                            elif grade.needs_manual_grade:
                                item["pending"] += 1
                            else:
                                score = float(grade.auto_score or 0)
                        item["manual"] += score
                    cell_scores[cell.key] = (score, cell.points)
                notebooks[name] = item
                recorded = entry.get("notebooks", {}).get(name, {}).get("auto_score")
                if recorded is not None and abs(float(recorded) - item["auto"]) > 1e-6:
                    mismatches.append(name)
            check = "ok" if not mismatches else "gradebook differs from the journal: " + ", ".join(mismatches)
            results.append(StudentGrades(student, entry.get("status", "not autograded"), notebooks, cell_scores, check))
    return results, cells


def export_csv(course_dir=None, out=None, *, db_url: str | None = None) -> list[dict]:
    """Write one row per student (per-notebook scores, totals) to ``out``; return the rows."""
    layout = CourseLayout.create(course_dir, db_url=db_url)
    grades, _ = collect_grades(layout)
    names = notebook_names(layout)
    fields = ["student", "status"]
    for name in names:
        fields += [f"{name} auto", f"{name} manual", f"{name} max"]
    fields += ["auto_total", "auto_max", "manual_total", "manual_max", "manual_pending", "total", "max_score", "check"]
    rows = []
    for student in grades:
        row = {"student": student.student, "status": student.status}
        for name in names:
            item = student.notebooks[name]
            row[f"{name} auto"] = item["auto"]
            row[f"{name} manual"] = item["manual"]
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


def write_report(course_dir=None, out=None, *, db_url: str | None = None) -> Path:
    """Write the HTML instructor report and return its path."""
    layout = CourseLayout.create(course_dir, db_url=db_url)
    grades, cells = collect_grades(layout)
    names = notebook_names(layout)
    journal = load_journal(layout)
    collect_report = {}
    report_path = layout.grading_dir / "collect_report.json"
    if report_path.is_file():
        collect_report = json.loads(report_path.read_text(encoding="utf-8"))

    graded = [student for student in grades if student.status == "graded"]
    auto_max = sum(cell.points for cell in cells if cell.kind == "auto")
    picture = _histogram_png([student.totals()["auto_total"] for student in graded], auto_max)

    rows = []
    for student in grades:
        totals = student.totals()
        entry = journal["students"].get(student.student, {})
        per_notebook = "".join(
            f"<td>{student.notebooks[name]['auto']:g}/{student.notebooks[name]['auto_max']:g}"
            f"<br><small>{html.escape(str(entry.get('notebooks', {}).get(name, {}).get('status', '')))}</small></td>"
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
            if event.get("event") == "guard":
                restored = ", ".join(event.get("restored", []))
                notes.append(f"{event.get('notebook')}/{event.get('grade_id')}: restored {restored}")
            elif event.get("event") == "aborted":
                notes.append(f"{event.get('notebook')}: execution aborted ({event.get('reason', '')[:120]})")
            elif event.get("event") == "output_truncated":
                notes.append(f"{event.get('notebook')}: output of cell {event.get('cell_index')} truncated")
            elif event.get("event") == "cells_restored":
                notes.append(f"{event.get('notebook')}: missing cells restored: {', '.join(event.get('cells', []))}")
            elif event.get("event") == "cell_changed":
                notes.append(f"{event.get('notebook')}/{event.get('grade_id')}: {event.get('attribute')} changed, restored")
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
            f"<td>{totals['total']:g}/{totals['max_score']:g}</td>{per_notebook}"
            f"<td>{_list(paths)}</td><td>{_list(notes)}</td></tr>")

    test_rows = []
    for cell in cells:
        if cell.kind != "auto":
            continue
        passed = sum(1 for student in graded if student.cells.get(cell.key, (0, 0))[0] >= cell.points - 1e-9)
        rate = passed / len(graded) if graded else 0.0
        test_rows.append(f"<tr><td>{html.escape(cell.notebook)}</td><td>{html.escape(cell.grade_id)}</td>"
                         f"<td>{cell.points:g}</td><td>{passed}/{len(graded)}</td><td>{rate:.0%}</td></tr>")
    unmatched = [f"{item['file']}: {item['reason']}" for item in collect_report.get("unmatched", [])]
    headers = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grading report — {html.escape(layout.assignment)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;vertical-align:top}}th{{background:#eee}}small{{color:#555}}ul{{margin:0;padding-left:1.2em}}</style>
</head><body>
<h1>Grading report — {html.escape(layout.course_id)} / {html.escape(layout.assignment)}</h1>
<p>{len(grades)} student(s), {len(graded)} autograded. Course directory: {html.escape(str(layout.root))}.
Autograded points come from the grading-mode re-run; written answers are graded by hand (nbgrader formgrader).</p>
<h2>Grade distribution</h2>
<img alt="grade distribution" src="data:image/png;base64,{picture}">
<h2>Students</h2>
<table><tr><th>student</th><th>autograded</th><th>written answers</th><th>total</th>{headers}
<th>where</th><th>notes</th></tr>
{''.join(rows)}</table>
<h2>Test pass rates</h2>
<table><tr><th>notebook</th><th>test cell</th><th>points</th><th>full marks</th><th>rate</th></tr>
{''.join(test_rows)}</table>
<h2>Files collect could not match</h2>
{_list(unmatched) or '<p>None.</p>'}
</body></html>
"""
    out = Path(out) if out is not None else layout.reports_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
