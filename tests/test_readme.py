"""README's fresh-machine commands stay in sync with CI and with the code they name."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands():
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_test_command():
    main_command, test_command = readme_commands()
    assert "python -m pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "experiments.train --paper=li_convs" in main_command and "experiments.export" in main_command


def test_requirements_pin_the_requested_packages():
    requirements = (ROOT / "requirements.txt").read_text()
    for package in ("tensorflow==", "tensorflow-datasets==", "keras-cv==", "numpy", "absl-py", "tensorboard", "pytest"):
        assert re.search(rf"^{re.escape(package)}", requirements, re.M), package


def markdown_pages():
    return [ROOT / "README.md", ROOT / "BUILD_NOTES.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_paper_has_a_docs_page_linked_from_readme():
    from experiments import papers

    readme = (ROOT / "README.md").read_text()
    for paper in papers.PAPERS:
        assert (ROOT / "docs" / f"{paper}.md").is_file(), paper
        assert f"](docs/{paper}.md)" in readme, paper
    assert "](docs/design.md)" in readme


def test_documentation_links_only_files_of_the_repository():
    """A clone must document itself: every relative link of README, BUILD_NOTES and docs/ resolves to a file or
    folder inside the repository, and nothing points at the papers' notes outside it."""
    for page in markdown_pages():
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target) or target.startswith("#"):
                continue
            resolved = (page.parent / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{page.name} links {target}"
        if page.name != "BUILD_NOTES.md":  # the engineering log may cite the notes the project was built from
            assert "PAPERS.md" not in text and "DESIGN.md" not in text, page.name
