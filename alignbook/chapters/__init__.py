"""Code that exists to serve the book's chapters: glue for the prose (`book`), the studies several chapters
share (`studies`), and the helpers of the real-data (`realdata`) and analysis (`analysis`) chapters."""
