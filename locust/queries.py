"""The questions virtual users ask, by the seed's kinds: simple, moderate, complex, multi-turn."""

SIMPLE = (
    "What is the normal resting heart rate for adults?",
    "What are common symptoms of dehydration?",
    "How much water should an adult drink per day?",
    "What is a normal body temperature?",
    "What does BMI stand for?",
)

MODERATE = (
    "What are the first-line treatments for type 2 diabetes?",
    "How is hypertension diagnosed and staged?",
    "What are the warning signs of a stroke and what should be done?",
    "What drug interactions should be considered with warfarin?",
    "How should asthma medication be adjusted during an exacerbation?",
)

COMPLEX = (
    "Compare ACE inhibitors and ARBs for a diabetic patient with chronic kidney disease and proteinuria.",
    "Outline the differential diagnosis for acute chest pain in a 55-year-old smoker with normal ECG.",
    (
        "How should anticoagulation be managed around surgery for a patient with atrial fibrillation "
        "and a mechanical heart valve?"
    ),
    "Summarise the evidence for SGLT2 inhibitors in heart failure with preserved ejection fraction.",
    "What is the stepwise approach to sepsis management in the first six hours?",
)

MULTI_TURN = (
    (
        "What are the symptoms of iron-deficiency anaemia?",
        "Which blood tests confirm it?",
        "How long does oral iron take to correct it?",
    ),
    (
        "What is the recommended screening for colorectal cancer?",
        "At what age should it start for someone with a family history?",
        "What are the alternatives to colonoscopy?",
    ),
    (
        "How is community-acquired pneumonia treated in adults?",
        "What changes if the patient is allergic to penicillin?",
        "When should the patient be admitted to hospital?",
    ),
)
