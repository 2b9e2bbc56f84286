"""One test per kind of fault listed in issue 11, each on a small input written for it (synthetic
outlets on example.* hosts). Pages go through extraction and the real follow-up (``page``), and
the relations are those :func:`detect` decides (content evidence + cues)."""

from __future__ import annotations

import pytest

from provenance.detect.attribution import detect, detect_relations, upstream_leads
from provenance.models import Document, Relation
from tests.test_provenance_units import page

pytestmark = pytest.mark.django_db


def edges(url: str) -> set[tuple[str, str]]:
    det = detect(Document.objects.get(url=url))
    return {(dec.type, d.url) for d, dec, _e, _c in det.decisions.values()}


def decision(url: str, target: str):
    det = detect(Document.objects.get(url=url))
    return next(dec for d, dec, _e, _c in det.decisions.values() if d.url == target)


def P(*sentences: str) -> str:  # noqa: N802 - reads like the markup it makes
    return "".join(f"<p>{s}</p>" for s in sentences)


# --- an upstream story in four languages, sentence by sentence ---------------------------------

MUSEUM_FR = [
    "Le musée maritime de Port-Aval rouvrira ses portes le 3 juin après deux ans de travaux.",
    "La rénovation, qui a coûté 14 millions d'euros, a été financée en grande partie par la région.",
    "Les visiteurs découvriront une nouvelle salle consacrée aux naufrages du XIXe siècle.",
    "La directrice du musée, Odile Ferrand, espère accueillir 80 000 visiteurs la première année.",
    "L'entrée sera gratuite pour les moins de 18 ans pendant tout l'été.",
]
MUSEUM_AR = [
    "يعيد المتحف البحري في بور أفال فتح أبوابه في الثالث من يونيو بعد عامين من أعمال الترميم.",
    "وقد موّلت المنطقة الجزء الأكبر من أعمال التجديد التي بلغت كلفتها 14 مليون يورو.",
    "وسيكتشف الزوار قاعة جديدة مخصصة لحوادث غرق السفن في القرن التاسع عشر.",
    "وتأمل مديرة المتحف أوديل فيران استقبال 80 ألف زائر في العام الأول.",
    "وسيكون الدخول مجانيا لمن هم دون 18 عاما طوال فصل الصيف.",
]


def test_1_arabic_source_line_with_the_outlet_name_in_guillemets_is_a_translation_not_a_quote():
    fr = "http://www.lecourrier-aval.example/culture/musee-maritime-reouverture"
    ar = "http://www.bawaba-sahil.example/culture/2024/museum"
    page(fr, P(*MUSEUM_FR), lang="fr", published="2024-05-20T08:00:00Z", site="Le Courrier d'Aval")
    page(ar, P(*MUSEUM_AR) + P(f'(نقلا عن صحيفة «<a href="{fr}">لو كورييه داڤال</a>» الفرنسية – ترجمة: '
                               "قسم الترجمة)"), lang="ar", published="2024-05-21T08:00:00Z", site="بوابة الساحل")
    assert edges(ar) == {("translation_of", fr)}
    dec = decision(ar, fr)
    assert "align, in order, to the French article" in dec.summary and "source line" in dec.summary


WIRE_EN = [
    "Flights at Norvik airport were halted for six hours on Sunday after a power failure hit the control tower.",
    "About 120 departures were cancelled and thousands of passengers spent the night in the terminal.",
    "The airport operator said a backup generator had failed to start.",
    "Power was restored shortly after 4 pm and the first flights left in the evening.",
    "The transport ministry has ordered an inquiry into the failure.",
]
ARTICLE_FR_FROM_EN = [
    "Les vols ont été interrompus pendant six heures dimanche à l'aéroport de Norvik après une panne de courant "
    "dans la tour de contrôle, selon l'exploitant, cité par <a href=\"{wire}\">l'agence Nordwire</a>.",
    "Environ 120 départs ont été annulés et des milliers de passagers ont passé la nuit dans le terminal.",
    "L'exploitant de l'aéroport a expliqué qu'un groupe électrogène de secours n'avait pas démarré.",
    "Le courant a été rétabli peu après 16 heures et les premiers vols sont partis dans la soirée.",
    "Le ministère des Transports a ordonné une enquête sur la panne.",
]


def test_2_french_article_translated_from_an_agency_with_avec_byline_and_cite_par_link_is_a_translation():
    wire = "http://www.nordwire.example/en/2024/03/10/norvik-airport-power-failure"
    fr = "http://www.lestuaire.example/monde/2024/03/10/aeroport-de-norvik"
    page(wire, P(*WIRE_EN), lang="en", published="2024-03-10T18:00:00Z", site="Nordwire")
    page(fr, P(*[s.format(wire=wire) for s in ARTICLE_FR_FROM_EN]), lang="fr", published="2024-03-10T21:00:00Z",
         site="L'Estuaire", author="Par Lucie Brun avec Nordwire")
    assert edges(fr) == {("translation_of", wire)}


def test_3_spanish_article_translated_from_a_french_wire_linked_on_informo_la_agencia_is_a_translation():
    wire = "http://www.hexapresse.example/depeches/2024/05/20/musee-port-aval"
    es = "http://www.diariodelacosta.example/cultura/2024/05/21/museo-port-aval"
    page(wire, P(*MUSEUM_FR), lang="fr", published="2024-05-20T08:00:00Z", site="Hexapresse")
    page(es, P(
        "El museo marítimo de Port-Aval reabrirá sus puertas el 3 de junio tras dos años de obras, informó "
        f'<a href="{wire}">la agencia francesa Hexapresse</a>.',
        "La renovación, que costó 14 millones de euros, fue financiada en gran parte por la región.",
        "Los visitantes descubrirán una nueva sala dedicada a los naufragios del siglo XIX.",
        "La directora del museo, Odile Ferrand, espera recibir 80.000 visitantes el primer año.",
        "La entrada será gratuita para los menores de 18 años durante todo el verano.",
    ), lang="es", published="2024-05-21T09:00:00Z", site="Diario de la Costa")
    assert edges(es) == {("translation_of", wire)}


def test_4_wire_linking_a_communique_and_quoting_the_ministers_words_from_it_quotes_it():
    comm = "http://www.agriculture.gouv.example/communiques/2024/04/02/secheresse"
    wire = "http://www.hexapresse.example/depeches/2024/04/02/secheresse-aides"
    page(comm, P(
        "Le ministre de l'Agriculture a présenté ce mardi un plan d'urgence pour les éleveurs touchés par la "
        "sécheresse.",
        "« Aucune exploitation ne sera laissée sans fourrage cet été », a déclaré le ministre.",
        "Une enveloppe de 40 millions d'euros sera débloquée dès le mois de mai.",
    ), lang="fr", published="2024-04-02T10:00:00Z", site="Ministère de l'Agriculture")
    page(wire, P(
        "Le gouvernement va débloquer 40 millions d'euros pour les éleveurs frappés par la sécheresse, selon "
        f'<a href="{comm}">un communiqué du ministère</a> publié mardi.',
        "« Aucune exploitation ne sera laissée sans fourrage cet été », a promis le ministre.",
        "Les syndicats agricoles réclamaient depuis des semaines une aide d'au moins 100 millions.",
        "Dans le sud du pays, les prairies n'ont pas reçu de pluie depuis la mi-février.",
    ), lang="fr", published="2024-04-02T12:00:00Z", site="Hexapresse")
    assert edges(wire) == {("quotes", comm)}


def test_5_near_verbatim_arabic_copy_with_a_source_footer_republishes_not_translates():
    a = "http://www.alwadi-news.example/local/2024/06/01/museum"
    b = "http://www.akhbar-alyawm.example/2024/06/02/73311.html"
    page(a, P(*MUSEUM_AR), lang="ar", published="2024-06-01T08:00:00Z", site="الوادي")
    copy = [*MUSEUM_AR[:3], MUSEUM_AR[3].replace("وتأمل", "وتتوقع"), MUSEUM_AR[4]]
    page(b, P(*copy) + P(f'المصدر: <a href="{a}">موقع الوادي</a>'), lang="ar", published="2024-06-02T08:00:00Z",
         site="أخبار اليوم")
    assert edges(b) == {("republishes", a)}
    assert "near-verbatim" in decision(b, a).summary


def test_6_sources_named_without_a_link_in_another_script_are_found():
    es = "http://www.elcorreodelvalle.example/2024/07/01/presa.html"
    fr = "http://www.hexapresse.example/depeches/2024/07/01/barrage"
    ministry = "http://www.eau.gouv.example/communiques/2024/07/01/barrage"
    page(es, P("La presa de Valdemora perdió un tercio de su agua en junio por la ola de calor.",
               "Los regantes temen cortes de suministro a partir de agosto."),
         lang="es", published="2024-07-01T08:00:00Z", site="El Correo del Valle")
    page(fr, P("Les autorités ont interdit la baignade dans le lac de Valdemora en raison d'algues toxiques.",
               "La préfecture réévaluera la situation la semaine prochaine."),
         lang="fr", published="2024-07-01T09:00:00Z", site="Hexapresse")
    page(ministry, P("Le ministère de l'Eau annonce un plan de restriction pour la région de Valdemora."),
         lang="fr", published="2024-07-01T10:00:00Z", site="Ministère de l'Eau | وزارة الماء")
    ar = "http://www.sawt-alrif.example/2024/07/02/dam"
    page(ar, P(
        "نقلت صحيفة «إل كوريو ديل بايي» الإسبانية عن مسؤولين محليين أن سد فالديمورا فقد ثلث مياهه في يونيو.",
        "وحسبما أفادت وكالة هكسابريس الفرنسية، فقد منعت السلطات السباحة في البحيرة بسبب طحالب سامة.",
        "وحسب بلاغ لوزارة الماء، فإن خطة لتقييد الاستهلاك ستطبق في المنطقة.",
        "ويعيش سكان القرى المجاورة على وقع القلق منذ أسابيع.",
    ), lang="ar", published="2024-07-02T08:00:00Z", site="صوت الريف")
    assert edges(ar) == {("attributes_to", es), ("attributes_to", fr), ("attributes_to", ministry)}


# --- the kinds behind the 30 real attribution sentences -----------------------------------------


def _two_docs(up_body: str, down_body: str, *, up_lang="en", down_lang="en", up_site="Eastbrook Times",
              down_site="Riverside Daily", author="", title_down=None):
    up = "http://www.up-outlet.example/story/1"
    down = "http://www.down-outlet.example/story/2"
    page(up, up_body, lang=up_lang, published="2024-09-01T08:00:00Z", site=up_site)
    page(down, down_body, lang=down_lang, published="2024-09-02T08:00:00Z", site=down_site, author=author)
    return up, down


def test_outlet_named_in_quotation_marks_without_link_is_attributes_to_not_erased():
    up, down = _two_docs(P("فرضت البلدية حظرا للتجول في الحي القديم بعد مواجهات ليلية."), P(
        'ونقلت "الرصيف" عن مسؤول في البلدية أن حظر التجول سيستمر ثلاثة أيام.',
        "ولم يصدر أي تعليق عن الشرطة حتى الآن."), up_lang="ar", down_lang="ar", up_site="الرصيف",
        down_site="المرصد")
    assert edges(down) == {("attributes_to", up)}


def test_agency_credit_in_the_opening_dateline_is_read():
    body = ["The regional parliament approved the new housing law by 61 votes to 40 on Thursday.",
            "The law caps rent increases at three percent a year for the next five years.",
            "Landlord associations said they would challenge it in court."]
    up, down = _two_docs(P(*body), P("MERIDA (Ibera Press) - " + body[0], *body[1:]), up_site="Ibera Press")
    assert edges(down) == {("republishes", up)}


def test_an_agency_linked_in_the_dateline_is_a_credit():
    up = "http://www.ibera-press.example/wire/77"
    down = "http://www.down-outlet.example/story/dateline"
    page(up, P("Lisbon dockers will strike for three days from Monday over pay."), lang="en",
         published="2024-09-01T08:00:00Z", site="Ibera Press")
    page(down, P(f'LISBON (<a href="{up}">Ibera Press</a>) - Tram drivers joined the protest on Tuesday.',
                 "Commuters faced long queues at bus stops."), lang="en", published="2024-09-02T08:00:00Z",
         site="Riverside Daily")
    assert edges(down) == {("derived_from", up)}


@pytest.mark.parametrize(("credit", "lang"), [
    ("ترجمة – {link}", "ar"),
    ("هذا المحتوى مقدم من {link}", "ar"),
    ("Enlace al artículo original en {link}.", "es"),
])
def test_credit_lines_with_a_dash_or_other_wording_give_a_translation(credit, lang):
    up = "http://www.eastbrook-times.example/2024/02/02/ferry"
    down = f"http://www.down-{lang}.example/2024/02/03/ferry"
    page(up, P(*WIRE_EN), lang="en", published="2024-02-02T08:00:00Z", site="Eastbrook Times")
    translated = {"ar": [
        "توقفت الرحلات في مطار نورفيك لمدة ست ساعات يوم الأحد بعد انقطاع للتيار الكهربائي في برج المراقبة.",
        "وألغيت نحو 120 رحلة مغادرة وقضى آلاف المسافرين الليلة في صالة المطار.",
        "وقالت الشركة المشغلة للمطار إن مولدا احتياطيا لم يعمل.",
        "وعاد التيار بعد الساعة الرابعة عصرا بقليل وأقلعت أولى الرحلات مساء.",
        "وأمرت وزارة النقل بفتح تحقيق في العطل."], "es": [
        "Los vuelos en el aeropuerto de Norvik quedaron suspendidos durante seis horas el domingo por un apagón en "
        "la torre de control.",
        "Unas 120 salidas fueron canceladas y miles de pasajeros pasaron la noche en la terminal.",
        "El operador del aeropuerto explicó que un generador de emergencia no arrancó.",
        "La electricidad se restableció poco después de las 16.00 y los primeros vuelos salieron por la noche.",
        "El Ministerio de Transportes ordenó una investigación sobre la avería."]}[lang]
    link = f'<a href="{up}">Eastbrook Times</a>'
    page(down, P(*translated) + P(credit.format(link=link)), lang=lang, published="2024-02-03T08:00:00Z",
         site="Down")
    assert edges(down) == {("translation_of", up)}


@pytest.mark.parametrize(("sentence", "lang"), [
    ("The Eastbrook Times reported on Friday that the mill will close by the end of the year.", "en"),
    ("La scierie fermera d'ici la fin de l'année, assure le quotidien Eastbrook Times.", "fr"),
    ("La serrería cerrará antes de fin de año, según publicó este viernes en su edición digital el diario "
     "británico Eastbrook Times.", "es"),
])
def test_reporting_shapes_and_a_wide_window_between_cue_and_outlet(sentence, lang):
    up, down = _two_docs(P("The Kelso sawmill will close at the end of the year, its owners told staff."),
                         P(sentence, "Workers plan a protest next week."), down_lang=lang)
    assert edges(down) == {("attributes_to", up)}


def test_headline_of_the_shape_outlet_colon_names_the_source():
    up, down = _two_docs(P("The Kelso sawmill will close at the end of the year, its owners told staff."),
                         P("Workers at the sawmill plan a protest next week."))
    Document.objects.filter(url=down).update(title="Eastbrook Times: Kelso sawmill to close")
    from archive.models import Snapshot

    Snapshot.objects.filter(url=down).update(title="Eastbrook Times: Kelso sawmill to close")
    assert ("attributes_to", up) in edges(down)


def test_a_reviewed_relation_is_never_changed_and_detection_is_idempotent():
    up, down = _two_docs(P("The Kelso sawmill will close at the end of the year, its owners told staff."),
                         P("According to the Eastbrook Times, the Kelso sawmill will close.", "Workers protest."))
    doc = Document.objects.get(url=down)
    first = {(r.type, r.target.url, r.confidence) for r in detect_relations(doc)}
    assert {(t, u) for t, u, _c in first} == {("attributes_to", up)}
    assert {(r.type, r.target.url, r.confidence) for r in detect_relations(doc)} == first  # idempotent
    rel = Relation.objects.get(source=doc)
    rel.type, rel.status = "cites", "accepted"
    rel.save()
    detect_relations(doc)
    assert list(Relation.objects.filter(source=doc).values_list("type", "status")) == [("cites", "accepted")]
    assert isinstance(rel.evidence, dict) and rel.evidence["summary"]


def test_a_ministry_named_by_a_translation_of_its_name_is_found_only_when_the_texts_are_related():
    water = "http://www.eau.gouv.example/communiques/2024/08/01/restrictions"
    farm = "http://www.agriculture.gouv.example/communiques/2024/08/01/foires"
    page(water, P("Le ministère annonce des restrictions d'eau dans la province de Sidi Bennour à partir du 5 août.",
                  "L'arrosage des jardins et le lavage des voitures seront interdits."),
         lang="fr", published="2024-08-01T08:00:00Z", site="Ministère de l'Eau")
    page(farm, P("Les foires agricoles d'automne se tiendront comme prévu dans toutes les régions.",
                 "Les éleveurs devront présenter un certificat vétérinaire."),
         lang="fr", published="2024-08-01T09:00:00Z", site="Ministère de l'Agriculture")
    ar = "http://www.sawt-alrif.example/2024/08/02/water"
    page(ar, P("وأفاد بلاغ لوزارة الماء بأن سقي الحدائق وغسل السيارات سيمنعان في إقليم سيدي بنور ابتداء من 5 غشت.",
               "ويخشى الفلاحون من تأثير القرار على محاصيلهم."), lang="ar", published="2024-08-02T08:00:00Z",
         site="صوت الريف")
    assert edges(ar) == {("attributes_to", water)}


def test_upstream_leads_are_the_unarchived_urls_linked_with_attribution_evidence():
    down = "http://www.down-outlet.example/story/9"
    page(down, P('The mill will close, according to <a href="http://www.kelso-gazette.example/mill">the Kelso '
                 'Gazette</a>.', 'Read more <a href="http://www.elsewhere.example/unrelated">here</a>.',
                 'Source: <a href="http://www.kelso-radio.example/news/1">Kelso Radio</a>'),
         lang="en", published="2024-09-02T08:00:00Z", site="Riverside Daily")
    leads = upstream_leads(Document.objects.get(url=down))
    assert [x["url"] for x in leads] == ["http://www.kelso-radio.example/news/1",
                                         "http://www.kelso-gazette.example/mill"]
